// How an engine operation ends a failed transaction, so that what the rollback could not remove reaches the user
// in the one error line (the CLI prints it on stderr).
#pragma once
#include "kinds/txn.h"

namespace ctnet::ops {

// Call from a catch block: rolls `txn` back (newest first, through each kind's remove) and rethrows the current
// exception as it is; when something could not be removed, an Error that adds what, instead.
[[noreturn]] void rollback_and_rethrow(kinds::Txn& txn);

}  // namespace ctnet::ops
