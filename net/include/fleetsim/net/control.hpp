// The control channel between the orchestrator and the node agents over TCP (docs/PROTOCOL.md): JSON lines, one
// connection per node, opened by the node with a hello. Both ends implement the agents' channel ports; what cannot
// be delivered (no connection, or it broke before the message was written) comes back as a send failure, later,
// from the io_context, as the ports promise.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "fleetsim/net/netns.hpp"
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>

#include "fleetsim/agents/ports.hpp"

namespace fleetsim::net {

// One TCP connection carrying lines: reads line by line (at most kMaxLine bytes each), writes in order.
class LineConnection : public std::enable_shared_from_this<LineConnection> {
 public:
  static constexpr std::size_t kMaxLine = 1 << 20;
  using OnLine = std::function<void(const std::string&)>;
  // why: empty when closed by this side.
  using OnClose = std::function<void(const std::string& why, std::deque<std::string> unsent)>;
  LineConnection(boost::asio::ip::tcp::socket socket, OnLine on_line, OnClose on_close);
  void start();
  void send(std::string line);
  void close(const std::string& why = "");
  bool is_open() const { return open_; }

 private:
  void read();
  void write();
  boost::asio::ip::tcp::socket socket_;
  boost::asio::streambuf in_;
  std::deque<std::string> out_;
  bool writing_ = false;
  bool open_ = true;
  OnLine on_line_;
  OnClose on_close_;
};

// The orchestrator's end: accepts the nodes' connections.
class ControlServer final : public agents::OrchestratorChannel {
 public:
  ControlServer(boost::asio::io_context& io, const boost::asio::ip::tcp::endpoint& endpoint);
  ~ControlServer() override;
  unsigned short port() const { return port_; }

  std::function<void(const agents::Message&)> on_message;
  std::function<void(agents::NodeId, const agents::Message&)> on_send_failed;
  std::function<void(agents::NodeId)> on_node_connected;
  std::function<void(const std::string&)> on_error;  // a connection closed for a protocol error (logged by the owner)

  void send_to_node(agents::NodeId node, const agents::Message& message) override;
  std::size_t connected() const { return nodes_.size(); }
  void stop();

 private:
  void accept();
  void fail_later(agents::NodeId node, const agents::Message& message);
  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::map<agents::NodeId, std::shared_ptr<LineConnection>> nodes_;
  std::vector<std::weak_ptr<LineConnection>> all_;  // every connection, before its hello too: stop() closes them
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// A node's end: connects to the orchestrator and says who it is.
class ControlClient final : public agents::NodeChannel {
 public:
  ControlClient(boost::asio::io_context& io, agents::NodeId node, boost::asio::ip::tcp::endpoint orchestrator);
  ~ControlClient() override;

  std::function<void(const agents::Message&)> on_message;
  std::function<void(const agents::Message&)> on_send_failed;
  std::function<void()> on_connected;
  std::function<void(const std::string&)> on_disconnected;
  // Where its socket is opened (a site's network namespace); unset: where the io thread is.
  SocketOpener open_socket{};

  // Connects (again after a disconnection too). With reconnect(), a failed or lost connection is tried again after
  // a back-off doubling from initial_s to max_s (reset by a connection), until disconnect().
  void connect();
  void reconnect(double initial_s, double max_s);
  void send_to_orchestrator(const agents::Message& message) override;
  bool connected() const { return connection_ && connection_->is_open(); }
  void disconnect();

 private:
  void fail_later(const agents::Message& message);
  void lost(const std::string& why);
  boost::asio::io_context& io_;
  agents::NodeId node_;
  boost::asio::ip::tcp::endpoint orchestrator_;
  std::shared_ptr<LineConnection> connection_;
  double retry_initial_s_ = 0, retry_max_s_ = 0, retry_s_ = 0;  // 0: no reconnection
  bool stopped_ = false;
  std::unique_ptr<boost::asio::steady_timer> retry_timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace fleetsim::net
