// One error type for the whole engine. Library code never prints: it throws an Error that says what was being
// done, to which object, the errno and (when the kernel sent one) the kernel's own extended-ACK text.
// Only the outermost layer (CLI, CNI entry point) decides how to show it.
#pragma once
#include <stdexcept>
#include <string>

namespace ctnet {

class Error : public std::runtime_error {
 public:
  // context: "cannot add veth1 to br0"; err: errno value (0 if none); kernel_text: extack message.
  explicit Error(std::string context, int err = 0, std::string kernel_text = {});

  const std::string& context() const { return context_; }
  int errnum() const { return errnum_; }
  const std::string& kernel_text() const { return kernel_text_; }

 private:
  std::string context_;
  int errnum_;
  std::string kernel_text_;
};

// Input that fails validation, before anything touches the kernel. `field` names where the bad value is
// ("links[2].name", "CNI_IFNAME", "--subnet").
class InvalidInput : public Error {
 public:
  InvalidInput(std::string field, std::string problem);
  const std::string& field() const { return field_; }
  const std::string& problem() const { return problem_; }

 private:
  std::string field_;
  std::string problem_;
};

// Throws Error(context, errno) for the current errno.
[[noreturn]] void throw_errno(std::string context);
[[noreturn]] void throw_errno(std::string context, int err);

// "EBUSY" for EBUSY.
std::string errno_name(int err);

}  // namespace ctnet
