// Linux network namespaces for the sockets of one process. A socket belongs to the namespace its thread was in when
// it was opened, and stays there: so one io_context can host the node agents of many sites, each site's sockets in
// its own namespace behind its own shaped link (fleetsim emulate, docs/EMULATE.md "Shaping"). Entering a namespace
// needs CAP_SYS_ADMIN (root); `ip netns add` makes the named ones.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <boost/asio/ip/tcp.hpp>

namespace fleetsim::net {

// Opens a socket where its owner's traffic belongs (in a site's namespace, say). Unset: where the thread is.
using SocketOpener = std::function<void(boost::asio::ip::tcp::socket&)>;

class Netns : public std::enable_shared_from_this<Netns> {
 public:
  // The namespace `ip netns add NAME` made (/run/netns/NAME). Throws std::system_error naming it.
  static std::shared_ptr<Netns> open_named(const std::string& name);
  ~Netns();
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;

  const std::string& name() const { return name_; }

  // The calling thread is inside `ns` from construction to destruction, then back where it was.
  class Enter {
   public:
    explicit Enter(const Netns& ns);
    ~Enter();
    Enter(const Enter&) = delete;
    Enter& operator=(const Enter&) = delete;

   private:
    int home_ = -1;
  };

  // Opens IPv4 TCP sockets in this namespace (and keeps it open while the opener lives).
  SocketOpener socket_opener() const;

 private:
  Netns(std::string name, int fd) : name_(std::move(name)), fd_(fd) {}
  std::string name_;
  int fd_ = -1;
};

}  // namespace fleetsim::net
