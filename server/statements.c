/* statements.c: the one place that knows every layer's statement arrays; the server is
 * the only layer that sees them all. */
#include "server/statements.h"
#include "api/api.h"
#include "ops/account.h"
#include "ops/ledger.h"
#include "store/accounts.h"
#include "store/closes.h"
#include "store/ledger.h"
#include "store/meters.h"
#include "store/migrate.h"
#include "store/keys.h"
#include "store/outbox.h"
#include "store/partitions.h"
#include "store/wechat.h"

void srv_register_statements(void)
{
	srv_auth_register();
	store_outbox_register();
	store_closes_register();
	store_partitions_register();
	store_accounts_register();
	store_ledger_register();
	store_migrate_register();
	store_wechat_register();
	api_register_statements();
}
