#include "http_server.hpp"

#include <algorithm>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

namespace fleetsim::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket socket, std::shared_ptr<HttpServer::Handler> handler, std::size_t body_limit)
      : stream_(std::move(socket)), handler_(std::move(handler)), body_limit_(body_limit) {}
  void read() {
    parser_.emplace();
    parser_->body_limit(body_limit_);
    stream_.expires_after(std::chrono::seconds(60));
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec == http::error::end_of_stream) return self->close();
      if (ec == http::error::body_limit)
        return self->answer({413, "{\"error\":\"request body over " + std::to_string(self->body_limit_) + " bytes\"}",
                             "application/json", {}},
                            false);
      if (ec) return self->close();
      self->handle();
    });
  }
  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

 private:
  void handle() {
    if (!*handler_) return close();  // the server stopped: its owner may be gone
    const auto& request = parser_->get();
    HttpRequest in{std::string(request.method_string()), std::string(request.target()), request.body()};
    HttpResponse out;
    try {
      out = (*handler_)(in);
    } catch (const std::exception& e) {
      out = {500, nlohmann_error(e.what()), "application/json", {}};
    }
    answer(out, request.keep_alive());
  }
  static std::string nlohmann_error(const std::string& what) {
    std::string escaped;
    for (char c : what) {
      if (c == '"' || c == '\\') escaped += '\\';
      if (static_cast<unsigned char>(c) >= 0x20) escaped += c;
    }
    return "{\"error\":\"" + escaped + "\"}";
  }
  void answer(const HttpResponse& out, bool keep_alive) {
    response_ = {};
    response_.version(11);
    response_.result(out.status);
    response_.set(http::field::server, "fleetsim");
    response_.set(http::field::content_type, out.content_type);
    if (!out.location.empty()) response_.set(http::field::location, out.location);
    response_.keep_alive(keep_alive);
    response_.body() = out.body;
    response_.prepare_payload();
    http::async_write(stream_, response_, [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
      if (ec || !keep_alive) return self->close();
      self->read();
    });
  }
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  boost::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  std::shared_ptr<HttpServer::Handler> handler_;
  std::size_t body_limit_;
};

HttpServer::HttpServer(asio::io_context& io, const tcp::endpoint& endpoint, Handler handler, std::size_t body_limit)
    : acceptor_(io), body_limit_(body_limit), handler_(std::make_shared<Handler>(std::move(handler))) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen();
  port_ = acceptor_.local_endpoint().port();
  accept();
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::stop() {
  *alive_ = false;
  *handler_ = nullptr;
  beast::error_code ignored;
  acceptor_.close(ignored);
  for (auto& weak : sessions_)
    if (auto session = weak.lock()) session->close();
  sessions_.clear();
}

void HttpServer::accept() {
  acceptor_.async_accept([this, alive = alive_, handler = handler_](beast::error_code ec, tcp::socket socket) {
    if (!*alive || ec == asio::error::operation_aborted) return;
    if (!ec) {
      auto session = std::make_shared<HttpSession>(std::move(socket), handler, body_limit_);
      sessions_.erase(std::remove_if(sessions_.begin(), sessions_.end(), [](const auto& w) { return w.expired(); }),
                      sessions_.end());
      sessions_.push_back(session);
      session->read();
    }
    accept();
  });
}

}  // namespace fleetsim::net
