#include "fleetsim/net/layer_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <system_error>

#include <openssl/evp.h>

namespace fleetsim::net {

namespace fs = std::filesystem;

struct Sha256::Impl {
  EVP_MD_CTX* ctx = nullptr;
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
  impl_->ctx = EVP_MD_CTX_new();
  if (impl_->ctx == nullptr || EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("OpenSSL: cannot initialise SHA-256");
}

Sha256::~Sha256() { EVP_MD_CTX_free(impl_->ctx); }

void Sha256::update(const void* data, std::size_t size) {
  if (EVP_DigestUpdate(impl_->ctx, data, size) != 1) throw std::runtime_error("OpenSSL: SHA-256 update failed");
}

std::string Sha256::finish() {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(impl_->ctx, md.data(), &n) != 1) throw std::runtime_error("OpenSSL: SHA-256 final failed");
  static const char* hex = "0123456789abcdef";
  std::string out = "sha256:";
  for (unsigned int i = 0; i < n; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

std::string Sha256::of(const std::string& bytes) {
  Sha256 h;
  h.update(bytes.data(), bytes.size());
  return h.finish();
}

void check_digest(const std::string& digest) {
  static const std::string prefix = "sha256:";
  bool ok = digest.size() == prefix.size() + 64 && digest.compare(0, prefix.size(), prefix) == 0;
  for (std::size_t i = prefix.size(); ok && i < digest.size(); ++i) {
    const char c = digest[i];
    ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  }
  if (!ok) throw BadDigest("'" + digest + "' is not a layer digest (sha256: and 64 lowercase hex digits)");
}

LayerStore::LayerStore(fs::path root) : root_(std::move(root)) {
  fs::create_directories(root_ / "blobs" / "sha256");
  fs::create_directories(root_ / "partial");
}

fs::path LayerStore::path(const std::string& digest) const {
  check_digest(digest);
  return root_ / "blobs" / "sha256" / digest.substr(7);
}

fs::path LayerStore::partial_path(const std::string& digest) const {
  check_digest(digest);
  return root_ / "partial" / digest.substr(7);
}

bool LayerStore::complete(const std::string& digest) const {
  std::error_code ec;
  return fs::is_regular_file(path(digest), ec);
}

std::uint64_t LayerStore::held(const std::string& digest) const {
  std::error_code ec;
  if (auto size = fs::file_size(path(digest), ec); !ec) return size;
  if (auto size = fs::file_size(partial_path(digest), ec); !ec) return size;
  return 0;
}

std::vector<LayerStore::Entry> LayerStore::list() const {
  std::vector<Entry> out;
  for (const auto& [dir, complete] : {std::pair{root_ / "blobs" / "sha256", true}, std::pair{root_ / "partial", false}})
    for (const auto& entry : fs::directory_iterator(dir)) {
      const std::string digest = "sha256:" + entry.path().filename().string();
      try {
        check_digest(digest);
      } catch (const BadDigest&) {
        continue;  // not ours (an editor's backup, a temporary file)
      }
      out.push_back({digest, static_cast<std::uint64_t>(entry.file_size()), complete});
    }
  return out;
}

std::unique_ptr<LayerWriter> LayerStore::open(const std::string& digest, std::uint64_t offset) {
  const fs::path partial = partial_path(digest);
  std::unique_ptr<LayerWriter> writer(new LayerWriter(partial, path(digest), digest));
  std::error_code ec;
  const std::uint64_t have = fs::exists(partial) ? fs::file_size(partial) : 0;
  const std::uint64_t keep = std::min(offset, have);
  if (have > keep) fs::resize_file(partial, keep);
  if (keep > 0) {  // the digest covers the whole layer: hash the bytes kept from earlier pulls
    std::ifstream in(partial, std::ios::binary);
    std::array<char, 1 << 16> buffer{};
    std::uint64_t left = keep;
    while (left > 0 && in) {
      in.read(buffer.data(), static_cast<std::streamsize>(std::min<std::uint64_t>(left, buffer.size())));
      const auto got = static_cast<std::size_t>(in.gcount());
      if (got == 0) break;
      writer->hash_.update(buffer.data(), got);
      left -= got;
    }
    if (left != 0) throw std::runtime_error("cannot read " + partial.string());
  }
  writer->bytes_ = keep;
  writer->out_.open(partial, std::ios::binary | std::ios::app);
  if (!writer->out_) throw std::runtime_error("cannot open " + partial.string() + " for writing");
  return writer;
}

void LayerStore::remove(const std::string& digest) {
  std::error_code ec;
  fs::remove(path(digest), ec);
  fs::remove(partial_path(digest), ec);
}

LayerWriter::LayerWriter(fs::path partial, fs::path complete, std::string digest)
    : partial_(std::move(partial)), complete_(std::move(complete)), digest_(std::move(digest)) {}

void LayerWriter::write(const char* data, std::size_t size) {
  out_.write(data, static_cast<std::streamsize>(size));
  if (!out_) throw std::runtime_error("cannot write " + partial_.string() + " (disk full?)");
  hash_.update(data, size);
  bytes_ += size;
}

bool LayerWriter::commit() {
  out_.flush();
  const bool written = static_cast<bool>(out_);
  out_.close();
  if (!written || out_.fail()) throw std::runtime_error("cannot write " + partial_.string() + " (disk full?)");
  actual_ = hash_.finish();
  std::error_code ec;
  if (actual_ != digest_) {
    fs::remove(partial_, ec);
    return false;
  }
  // The hash covers what was handed to the file: make sure the file holds all of it, on the disk, before the layer
  // counts as complete (a complete layer is never pulled again).
  if (fs::file_size(partial_) != bytes_) throw std::runtime_error(partial_.string() + " is shorter than what was written");
  const int fd = ::open(partial_.c_str(), O_RDONLY);
  if (fd < 0 || ::fsync(fd) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("cannot sync " + partial_.string());
  }
  ::close(fd);
  fs::rename(partial_, complete_);
  return true;
}

}  // namespace fleetsim::net
