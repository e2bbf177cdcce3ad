// push_blob: the two requests of a monolithic blob upload (distribution-spec "Pushing a blob monolithically").
#include <stdexcept>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "fleetsim/net/http_registry.hpp"
#include "fleetsim/net/layer_store.hpp"

namespace fleetsim::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

http::response<http::string_body> exchange(const HttpUrl& url, http::verb verb, std::string body,
                                           std::chrono::milliseconds timeout) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  tcp::resolver resolver(io);
  stream.expires_after(timeout);
  stream.connect(resolver.resolve(url.host, url.port));
  http::request<http::string_body> request{verb, url.target, 11};
  request.set(http::field::host, url.host + ":" + url.port);
  request.set(http::field::user_agent, "fleetsim");
  request.set(http::field::content_type, "application/octet-stream");
  request.body() = std::move(body);
  request.prepare_payload();
  http::write(stream, request);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response);
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  return response;
}

}  // namespace

std::string push_blob(const std::string& registry_url, const std::string& repository, const std::string& bytes,
                      std::chrono::milliseconds timeout) {
  const std::string digest = Sha256::of(bytes);
  const HttpUrl base = HttpUrl::parse(registry_url);
  HttpUrl url = base;
  const std::string prefix = base.target == "/" ? "" : base.target;
  url.target = prefix + "/v2/" + repository + "/blobs/uploads/";
  auto started = exchange(url, http::verb::post, {}, timeout);
  if (started.result_int() != 202)
    throw std::runtime_error("push to " + url.str() + ": HTTP " + std::to_string(started.result_int()) + " (202 expected)");
  const std::string location(started[http::field::location]);
  if (location.empty()) throw std::runtime_error("push to " + url.str() + ": no Location for the upload");
  HttpUrl upload = location.front() == '/' ? base : HttpUrl::parse(location);
  if (location.front() == '/') upload.target = location;
  upload.target += (upload.target.find('?') == std::string::npos ? "?" : "&") + std::string("digest=") + digest;
  auto put = exchange(upload, http::verb::put, bytes, timeout);
  if (put.result_int() != 201)
    throw std::runtime_error("push to " + url.str() + ": HTTP " + std::to_string(put.result_int()) + " to the upload (201 expected): " + put.body());
  return digest;
}

}  // namespace fleetsim::net
