// One error family for the whole engine. Library code never prints: it throws an Error that says what was being
// done, to which object, the errno and (when the kernel sent one) the kernel's own extended-ACK text, or one of
// the kinds below that a face may need to tell apart. Only the outermost layer (CLI, CNI entry point) decides
// how to show it (the CNI face maps each kind to a spec code: cni::as_cni_error).
#pragma once
#include <stdexcept>
#include <string>
#include <string_view>

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

// A value of the wrong type where a configuration (JSON) wants another: `problem` is "expected a string".
class WrongType : public InvalidInput {
 public:
  WrongType(std::string field, std::string_view expected);
};

// What was asked for is held by someone else (a requested address already leased, a second lease for one
// attachment). Not retried: the request itself has to change.
class Conflict : public Error {
 public:
  using Error::Error;
};

// Nothing is free to hand out (a range with every address leased): try again once something is released.
class Exhausted : public Error {
 public:
  using Error::Error;
};

// A local file or directory (a data dir, a record) cannot be read or written. The message carries the system's
// text; errnum() stays 0, so code that skips "already gone" kernel errors (ENOENT) never skips this one.
class IoError : public Error {
 public:
  explicit IoError(const std::string& context, int err = 0);
};

// Throws Error(context, errno) for the current errno.
[[noreturn]] void throw_errno(std::string context);
[[noreturn]] void throw_errno(std::string context, int err);

// "EBUSY" for EBUSY.
std::string errno_name(int err);

}  // namespace ctnet
