#include "util/error.h"

#include <cerrno>
#include <cstring>

namespace ctnet {
namespace {
std::string compose(const std::string& context, int err, const std::string& kernel_text) {
  std::string s = context;
  if (!kernel_text.empty()) {
    s += ": " + kernel_text;
    if (err) s += " (" + errno_name(err) + ")";
  } else if (err) {
    s += ": " + std::string(std::strerror(err)) + " (" + errno_name(err) + ")";
  }
  return s;
}
}  // namespace

Error::Error(std::string context, int err, std::string kernel_text)
    : std::runtime_error(compose(context, err, kernel_text)),
      context_(std::move(context)),
      errnum_(err),
      kernel_text_(std::move(kernel_text)) {}

InvalidInput::InvalidInput(std::string field, std::string problem)
    : Error(field + ": " + problem), field_(std::move(field)), problem_(std::move(problem)) {}

WrongType::WrongType(std::string field, std::string_view expected)
    : InvalidInput(std::move(field), "expected " + std::string(expected)) {}

IoError::IoError(const std::string& context, int err)
    : Error(err ? context + ": " + std::strerror(err) : context) {}

void throw_errno(std::string context) { throw_errno(std::move(context), errno); }
void throw_errno(std::string context, int err) { throw Error(std::move(context), err); }

std::string errno_name(int err) {
  const char* n = strerrorname_np(err);
  return n ? n : "errno " + std::to_string(err);
}

}  // namespace ctnet
