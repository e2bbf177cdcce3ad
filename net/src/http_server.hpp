// A small HTTP/1.1 server on Boost.Beast for the daemons' APIs: keep-alive, requests up to 1 MiB, one handler
// that maps a request to a response, called on the io_context.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace fleetsim::net {

struct HttpRequest {
  std::string method;  // GET, POST, ...
  std::string target;  // path and query
  std::string body;
};

struct HttpResponse {
  unsigned status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::string location;  // for 201 Created
};

class HttpSession;

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  // body_limit: a request with a larger body is answered 413.
  HttpServer(boost::asio::io_context& io, const boost::asio::ip::tcp::endpoint& endpoint, Handler handler,
             std::size_t body_limit = 1 << 20);
  ~HttpServer();
  unsigned short port() const { return port_; }
  void stop();

 private:
  void accept();
  boost::asio::ip::tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::size_t body_limit_;
  std::shared_ptr<Handler> handler_;  // emptied by stop(): a session still open never calls it again
  std::vector<std::weak_ptr<HttpSession>> sessions_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace fleetsim::net
