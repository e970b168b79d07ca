// An error answered to an HTTP client: status, a stable code, a message a user can act on and
// the request field it concerns. Rendered as {"error": {"code", "message", "param", "type"}}.
#pragma once
#include <stdexcept>
#include <string>

namespace fcast::serve {

struct ApiError : std::runtime_error {
  int status;
  std::string code, param;
  ApiError(int http_status, std::string error_code, const std::string& message, std::string field = "")
      : std::runtime_error(message), status(http_status), code(std::move(error_code)), param(std::move(field)) {}
};

}  // namespace fcast::serve
