#pragma once

#include "devstack/postgres/local_postgres.h"

namespace datarefresh::devpg::testing {

// The server shared by every test of devstack_postgres_test (started once by a global
// environment in local_postgres_test.cpp, stopped after the last test).
LocalPostgres& shared_server();

}  // namespace datarefresh::devpg::testing
