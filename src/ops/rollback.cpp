#include "ops/rollback.h"

#include <fmt/format.h>

#include <exception>

#include "util/error.h"

namespace ctnet::ops {

void rollback_and_rethrow(kinds::Txn& txn) {
  const auto errors = txn.rollback();
  if (errors.empty()) throw;
  std::string left;
  for (const auto& e : errors) left += (left.empty() ? "" : "; ") + e;
  try {
    throw;
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}; the rollback could not remove: {}", e.what(), left));
  }
}

}  // namespace ctnet::ops
