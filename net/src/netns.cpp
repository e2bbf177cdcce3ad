#include "fleetsim/net/netns.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <system_error>

namespace fleetsim::net {

std::shared_ptr<Netns> Netns::open_named(const std::string& name) {
  const std::string path = "/run/netns/" + name;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "network namespace " + path);
  return std::shared_ptr<Netns>(new Netns(name, fd));
}

Netns::~Netns() {
  if (fd_ >= 0) ::close(fd_);
}

Netns::Enter::Enter(const Netns& ns) {
  home_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home_ < 0) throw std::system_error(errno, std::generic_category(), "this thread's network namespace");
  if (::setns(ns.fd_, CLONE_NEWNET) != 0) {
    const int e = errno;
    ::close(home_);
    throw std::system_error(e, std::generic_category(), "entering network namespace " + ns.name_);
  }
}

Netns::Enter::~Enter() {
  // A thread left in another namespace would open every later socket there: nothing sensible can go on.
  if (::setns(home_, CLONE_NEWNET) != 0) {
    std::perror("fleetsim: leaving a network namespace");
    std::abort();
  }
  ::close(home_);
}

SocketOpener Netns::socket_opener() const {
  return [self = shared_from_this()](boost::asio::ip::tcp::socket& socket) {
    const Enter inside(*self);
    socket.open(boost::asio::ip::tcp::v4());
  };
}

}  // namespace fleetsim::net
