// A move-only callable that keeps callables of up to 48 bytes inline (Task: `void()`). The event loop stores one per timer;
// std::function (libstdc++) keeps only trivially copyable callables of up to 16 bytes inline, so a lambda that
// captures `this` and a shared_ptr, or three words, cost a heap allocation and a free per timer: a tenth of a
// telemetry-heavy run (docs/ENGINE.md, "One loop for the fleet").
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace fleetsim::sim {

template <typename Signature>
class InlineFunction;

template <typename R, typename... Args>
class InlineFunction<R(Args...)> {
 public:
  static constexpr std::size_t kInline = 48;

  InlineFunction() noexcept = default;
  InlineFunction(std::nullptr_t) noexcept {}  // NOLINT(google-explicit-constructor): like std::function
  template <typename F, typename D = std::decay_t<F>,
            typename = std::enable_if_t<!std::is_same_v<D, InlineFunction> && std::is_invocable_r_v<R, D&, Args...>>>
  InlineFunction(F&& f) {  // NOLINT(google-explicit-constructor): a lambda converts, as to std::function
    if constexpr (fits<D>()) {
      ::new (static_cast<void*>(buffer_)) D(std::forward<F>(f));
      ops_ = &inline_ops<D>;
    } else {
      heap_ = new D(std::forward<F>(f));
      ops_ = &heap_ops<D>;
    }
  }
  InlineFunction(InlineFunction&& other) noexcept { take(other); }
  InlineFunction& operator=(InlineFunction&& other) noexcept {
    if (this != &other) {
      reset();
      take(other);
    }
    return *this;
  }
  InlineFunction& operator=(std::nullptr_t) noexcept {
    reset();
    return *this;
  }
  InlineFunction(const InlineFunction&) = delete;
  InlineFunction& operator=(const InlineFunction&) = delete;
  ~InlineFunction() { reset(); }

  explicit operator bool() const noexcept { return ops_ != nullptr; }
  R operator()(Args... args) { return ops_->call(*this, std::forward<Args>(args)...); }

 private:
  struct Ops {
    R (*call)(InlineFunction&, Args&&...);
    void (*move)(InlineFunction& to, InlineFunction& from) noexcept;  // leaves `from` empty of its callable (ops_ set by the caller)
    void (*destroy)(InlineFunction&) noexcept;
  };
  template <typename D>
  static constexpr bool fits() {
    return sizeof(D) <= kInline && alignof(D) <= alignof(std::max_align_t) && std::is_nothrow_move_constructible_v<D>;
  }
  template <typename D>
  static D& inline_object(InlineFunction& t) {
    return *std::launder(reinterpret_cast<D*>(t.buffer_));
  }
  template <typename D>
  static constexpr Ops inline_ops{
      [](InlineFunction& t, Args&&... args) -> R { return inline_object<D>(t)(std::forward<Args>(args)...); },
      [](InlineFunction& to, InlineFunction& from) noexcept {
        ::new (static_cast<void*>(to.buffer_)) D(std::move(inline_object<D>(from)));
        inline_object<D>(from).~D();
      },
      [](InlineFunction& t) noexcept { inline_object<D>(t).~D(); }};
  template <typename D>
  static constexpr Ops heap_ops{[](InlineFunction& t, Args&&... args) -> R { return (*static_cast<D*>(t.heap_))(std::forward<Args>(args)...); },
                                [](InlineFunction& to, InlineFunction& from) noexcept {
                                  to.heap_ = from.heap_;
                                  from.heap_ = nullptr;
                                },
                                [](InlineFunction& t) noexcept { delete static_cast<D*>(t.heap_); }};

  void take(InlineFunction& other) noexcept {
    if (other.ops_ == nullptr) return;
    other.ops_->move(*this, other);
    ops_ = other.ops_;
    other.ops_ = nullptr;
  }
  void reset() noexcept {
    if (ops_ == nullptr) return;
    const Ops* ops = ops_;
    ops_ = nullptr;
    ops->destroy(*this);
  }

  union {
    alignas(std::max_align_t) unsigned char buffer_[kInline];
    void* heap_;
  };
  const Ops* ops_ = nullptr;
};

using Task = InlineFunction<void()>;

}  // namespace fleetsim::sim
