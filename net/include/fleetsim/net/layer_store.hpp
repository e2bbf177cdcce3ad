// The real node's layer store: content-addressed files on disk, as containerd's content store keeps them. A layer
// being pulled is `partial/<hex>` and grows by appending (HTTP Range resumes continue it); once its last byte has
// arrived and its SHA-256 equals its digest it becomes `blobs/sha256/<hex>`, never before. The agents library
// decides what to keep (disk budget, garbage collection); this store only holds what it is told to.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace fleetsim::net {

// Incremental SHA-256 (OpenSSL's libcrypto).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, std::size_t size);
  // The digest as "sha256:<64 lowercase hex>"; the object cannot be updated afterwards.
  std::string finish();
  static std::string of(const std::string& bytes);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A digest that is not "sha256:" and 64 lowercase hex digits (it would name a file: "sha256:../x" must not).
class BadDigest : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};
void check_digest(const std::string& digest);

class LayerStore;

// Appends a pull's bytes to a partial layer and hashes them; commit() verifies the digest.
class LayerWriter {
 public:
  void write(const char* data, std::size_t size);
  std::uint64_t bytes() const { return bytes_; }  // bytes the partial file holds now
  // The last byte arrived: true if the content matches the digest (the layer is then complete); false if it does
  // not (the partial file is deleted: its bytes cannot be trusted).
  bool commit();
  // The pull stopped before the end: the bytes written so far stay in the partial file for a resume.
  void close() { out_.close(); }
  const std::string& actual_digest() const { return actual_; }

 private:
  friend class LayerStore;
  LayerWriter(std::filesystem::path partial, std::filesystem::path complete, std::string digest);
  std::filesystem::path partial_, complete_;
  std::string digest_, actual_;
  std::ofstream out_;
  Sha256 hash_;
  std::uint64_t bytes_ = 0;
};

class LayerStore {
 public:
  // Creates root/blobs/sha256 and root/partial if needed; what is already there is kept (a restarted agent's).
  explicit LayerStore(std::filesystem::path root);

  struct Entry {
    std::string digest;
    std::uint64_t bytes = 0;
    bool complete = false;
  };
  std::vector<Entry> list() const;
  bool complete(const std::string& digest) const;
  // Bytes held of the layer: its size when complete, the partial file's size, or 0.
  std::uint64_t held(const std::string& digest) const;
  std::filesystem::path path(const std::string& digest) const;  // where the complete layer is (or will be)
  // Opens the layer for writing from `offset`: the partial file is cut to min(offset, what it holds), and the bytes
  // kept are hashed again so that the digest covers the whole layer. writer->bytes() says where writing resumes.
  std::unique_ptr<LayerWriter> open(const std::string& digest, std::uint64_t offset);
  void remove(const std::string& digest);
  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path partial_path(const std::string& digest) const;
  std::filesystem::path root_;
};

}  // namespace fleetsim::net
