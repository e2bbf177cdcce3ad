#pragma once
// A binary heap of (key, id) whose callers keep each id's position (so that an entry can be updated or erased in
// O(log n)). Equal keys are ordered by id, so that the order never depends on insertion history.

#include <cstdint>
#include <limits>
#include <vector>

namespace fleetsim::sharing::detail {

inline constexpr std::uint32_t kNoPos = std::numeric_limits<std::uint32_t>::max();

template <bool Max>
class IndexedHeap {
 public:
  static constexpr double kEmptyKey =
      Max ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();

  bool empty() const { return a_.empty(); }
  std::size_t size() const { return a_.size(); }
  double top_key() const { return a_.empty() ? kEmptyKey : a_.front().key; }
  std::uint32_t top_id() const { return a_.front().id; }
  double key_at(std::uint32_t i) const { return a_[i].key; }
  std::uint32_t id_at(std::uint32_t i) const { return a_[i].id; }

  // `pos(id)` returns a reference to where the caller keeps id's position.
  template <class Pos>
  void push(double key, std::uint32_t id, Pos&& pos) {
    a_.push_back({key, id});
    pos(id) = static_cast<std::uint32_t>(a_.size() - 1);
    up(static_cast<std::uint32_t>(a_.size() - 1), pos);
  }

  template <class Pos>
  void update(std::uint32_t i, double key, Pos&& pos) {
    const Entry old = a_[i];
    if (old.key == key) return;
    a_[i].key = key;
    if (before(a_[i], old))
      up(i, pos);
    else
      down(i, pos);
  }

  template <class Pos>
  void set(std::uint32_t i, double key, std::uint32_t id, Pos&& pos) {
    if (i == kNoPos)
      push(key, id, pos);
    else
      update(i, key, pos);
  }

  template <class Pos>
  void erase(std::uint32_t i, Pos&& pos) {
    const std::uint32_t id = a_[i].id;
    const auto last = static_cast<std::uint32_t>(a_.size() - 1);
    if (i != last) {
      a_[i] = a_[last];
      pos(a_[i].id) = i;
    }
    a_.pop_back();
    pos(id) = kNoPos;
    if (i < a_.size()) down(up(i, pos), pos);
  }

 private:
  struct Entry {
    double key;
    std::uint32_t id;
  };
  static bool before(const Entry& x, const Entry& y) {
    if (x.key != y.key) return Max ? x.key > y.key : x.key < y.key;
    return x.id < y.id;
  }
  template <class Pos>
  std::uint32_t up(std::uint32_t i, Pos& pos) {
    const Entry e = a_[i];
    while (i > 0) {
      const std::uint32_t parent = (i - 1) / 2;
      if (!before(e, a_[parent])) break;
      a_[i] = a_[parent];
      pos(a_[i].id) = i;
      i = parent;
    }
    a_[i] = e;
    pos(e.id) = i;
    return i;
  }
  template <class Pos>
  void down(std::uint32_t i, Pos& pos) {
    const Entry e = a_[i];
    const auto n = static_cast<std::uint32_t>(a_.size());
    for (;;) {
      std::uint32_t child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && before(a_[child + 1], a_[child])) ++child;
      if (!before(a_[child], e)) break;
      a_[i] = a_[child];
      pos(a_[i].id) = i;
      i = child;
    }
    a_[i] = e;
    pos(e.id) = i;
  }

  std::vector<Entry> a_;
};

}  // namespace fleetsim::sharing::detail
