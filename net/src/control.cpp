#include "fleetsim/net/control.hpp"

#include <algorithm>
#include <chrono>
#include <istream>
#include <optional>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>

#include "fleetsim/net/wire.hpp"

namespace fleetsim::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

LineConnection::LineConnection(tcp::socket socket, OnLine on_line, OnClose on_close)
    : socket_(std::move(socket)), in_(kMaxLine), on_line_(std::move(on_line)), on_close_(std::move(on_close)) {}

void LineConnection::start() {
  socket_.set_option(tcp::no_delay(true));
  read();
}

void LineConnection::read() {
  asio::async_read_until(socket_, in_, '\n', [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
    if (!self->open_) return;
    if (ec) {
      self->close(ec == asio::error::not_found ? "a line longer than 1 MiB" : ec.message());
      return;
    }
    std::istream stream(&self->in_);
    std::string line;
    std::getline(stream, line);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) self->on_line_(line);
    if (self->open_) self->read();
  });
}

void LineConnection::send(std::string line) {
  if (!open_) return;
  out_.push_back(std::move(line) + "\n");
  if (!writing_) write();
}

void LineConnection::write() {
  writing_ = true;
  asio::async_write(socket_, asio::buffer(out_.front()),
                    [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                      if (!self->open_) return;
                      if (ec) {
                        self->close(ec.message());
                        return;
                      }
                      self->out_.pop_front();
                      if (self->out_.empty())
                        self->writing_ = false;
                      else
                        self->write();
                    });
}

void LineConnection::close(const std::string& why) {
  if (!open_) return;
  open_ = false;
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  std::deque<std::string> unsent;
  unsent.swap(out_);
  for (auto& line : unsent) line.pop_back();  // the newline
  if (on_close_) on_close_(why, std::move(unsent));
}

// ---- the orchestrator's end ----

ControlServer::ControlServer(asio::io_context& io, const tcp::endpoint& endpoint) : io_(io), acceptor_(io, endpoint) {
  port_ = acceptor_.local_endpoint().port();
  accept();
}

ControlServer::~ControlServer() {
  *alive_ = false;
  stop();
}

void ControlServer::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  nodes_.clear();
  auto all = std::move(all_);
  all_.clear();
  for (auto& weak : all)
    if (auto connection = weak.lock()) connection->close();
}

void ControlServer::accept() {
  acceptor_.async_accept([this, alive = alive_](const boost::system::error_code& ec, tcp::socket socket) {
    if (!*alive || !acceptor_.is_open()) return;
    if (!ec) {
      // Until its hello, the connection has no node: the first line names it.
      auto node = std::make_shared<std::optional<agents::NodeId>>();
      auto holder = std::make_shared<std::weak_ptr<LineConnection>>();
      auto connection = std::make_shared<LineConnection>(
          std::move(socket),
          [this, alive, node, holder](const std::string& line) {
            if (!*alive) return;
            auto self = holder->lock();
            try {
              if (!*node) {
                *node = decode_hello(line);
                if (auto old = nodes_.find(**node); old != nodes_.end() && old->second != self)
                  old->second->close("replaced by a new connection of node " + std::to_string(**node));
                nodes_[**node] = self;
                if (on_node_connected) on_node_connected(**node);
                return;
              }
              const agents::Message message = decode(line);
              if (on_message) on_message(message);
            } catch (const WireError& e) {
              if (on_error) on_error(std::string("node connection closed: ") + e.what());
              if (self) self->close(e.what());
            }
          },
          [this, alive, node, holder](const std::string&, std::deque<std::string> unsent) {
            if (!*alive || !*node) return;
            auto it = nodes_.find(**node);
            if (it != nodes_.end() && it->second == holder->lock()) nodes_.erase(it);
            for (const auto& line : unsent) fail_later(**node, decode(line));  // lines this end encoded
          });
      *holder = connection;
      all_.erase(std::remove_if(all_.begin(), all_.end(), [](const auto& w) { return w.expired(); }), all_.end());
      all_.push_back(connection);
      connection->start();
    }
    accept();
  });
}

void ControlServer::fail_later(agents::NodeId node, const agents::Message& message) {
  asio::post(io_, [this, alive = alive_, node, message] {
    if (*alive && on_send_failed) on_send_failed(node, message);
  });
}

void ControlServer::send_to_node(agents::NodeId node, const agents::Message& message) {
  auto it = nodes_.find(node);
  if (it == nodes_.end() || !it->second->is_open()) {
    fail_later(node, message);
    return;
  }
  it->second->send(encode(message));
}

// ---- a node's end ----

ControlClient::ControlClient(asio::io_context& io, agents::NodeId node, tcp::endpoint orchestrator)
    : io_(io), node_(node), orchestrator_(std::move(orchestrator)) {}

ControlClient::~ControlClient() {
  *alive_ = false;
  stopped_ = true;
  if (retry_timer_) retry_timer_->cancel();
  if (connection_) connection_->close();
}

void ControlClient::reconnect(double initial_s, double max_s) {
  retry_initial_s_ = retry_s_ = initial_s;
  retry_max_s_ = std::max(initial_s, max_s);
}

// The connection failed or was lost: told to the owner, and tried again after the back-off when reconnecting.
void ControlClient::lost(const std::string& why) {
  if (on_disconnected) on_disconnected(why);
  if (stopped_ || !(retry_initial_s_ > 0)) return;
  retry_timer_ = std::make_unique<asio::steady_timer>(
      io_, std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(retry_s_)));
  retry_s_ = std::min(retry_max_s_, 2 * retry_s_);
  retry_timer_->async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (!ec && *alive && !stopped_) connect();
  });
}

void ControlClient::connect() {
  stopped_ = false;
  if (connected()) return;
  auto socket = std::make_shared<tcp::socket>(io_);
  if (open_socket) try {
      open_socket(*socket);
    } catch (const std::exception& e) {
      asio::post(io_, [this, alive = alive_, why = std::string(e.what())] {
        if (*alive) lost("cannot open a socket: " + why);
      });
      return;
    }
  socket->async_connect(orchestrator_, [this, alive = alive_, socket](const boost::system::error_code& ec) {
    if (!*alive) return;
    if (ec) {
      lost("cannot connect to the orchestrator: " + ec.message());
      return;
    }
    retry_s_ = retry_initial_s_;
    auto holder = std::make_shared<std::weak_ptr<LineConnection>>();
    connection_ = std::make_shared<LineConnection>(
        std::move(*socket),
        [this, alive, holder](const std::string& line) {
          if (!*alive) return;
          try {
            const agents::Message message = decode(line);
            if (on_message) on_message(message);
          } catch (const WireError& e) {
            if (auto self = holder->lock()) self->close(e.what());
          }
        },
        [this, alive](const std::string& why, std::deque<std::string> unsent) {
          if (!*alive) return;
          for (const auto& line : unsent) {
            try {
              fail_later(decode(line));
            } catch (const WireError&) {
              // the hello, which is no message of the agent's
            }
          }
          lost(why.empty() ? "closed" : why);
        });
    *holder = connection_;
    connection_->start();
    connection_->send(encode_hello(node_));
    if (on_connected) on_connected();
  });
}

void ControlClient::disconnect() {
  stopped_ = true;
  if (retry_timer_) retry_timer_->cancel();
  if (connection_) connection_->close();
}

void ControlClient::fail_later(const agents::Message& message) {
  asio::post(io_, [this, alive = alive_, message] {
    if (*alive && on_send_failed) on_send_failed(message);
  });
}

void ControlClient::send_to_orchestrator(const agents::Message& message) {
  if (!connected()) {
    fail_later(message);
    return;
  }
  connection_->send(encode(message));
}

}  // namespace fleetsim::net
