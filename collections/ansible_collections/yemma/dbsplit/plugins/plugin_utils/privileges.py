"""What each phase needs of the tool's login on a server, when the login is not a superuser
(a managed server, a hardened one: the application's role owns its database and no more),
each missing privilege named with the statement that grants it, before anything stops.

The facts come from module_utils/login.read on the server. A superuser needs nothing more.
The settings that take ALTER SYSTEM (the apply workers, wal_level) are named by the reverse
stream's own check (module_utils/reverse.prepare_servers) instead of applied. A statement
logging setting the login may not turn off for its session, and that would write the password
CREATE SUBSCRIPTION carries to the log, is named with the grant that lets it.
"""

from ansible_collections.yemma.dbsplit.plugins.module_utils import reverse
from ansible_collections.yemma.dbsplit.plugins.module_utils.pgconn import quote_ident

# CREATE SUBSCRIPTION by a role that is not a superuser, once granted pg_create_subscription.
NON_SUPERUSER_SUBSCRIPTION = 160000


def _grant(facts, what):
    return f"GRANT {what} TO {quote_ident(facts['login'])};"


def _subscription_problems(facts, where, why, fallback):
    """CREATE SUBSCRIPTION by the login, and the logging that would keep its password."""
    if facts["server_version"] < NON_SUPERUSER_SUBSCRIPTION:
        return [f"{why} runs CREATE SUBSCRIPTION on {where}, which PostgreSQL {facts['server_version'] // 10000} lets "
                f"only a superuser run (pg_create_subscription comes with 16): ALTER ROLE {quote_ident(facts['login'])} "
                f"SUPERUSER; for the migration, or {fallback}"]
    problems = []
    if not facts["create_subscription"]:
        problems.append(f"{why} runs CREATE SUBSCRIPTION on {where}: {_grant(facts, 'pg_create_subscription')}")
    if facts["logging_left_on"]:
        problems.append(f"{why} on {where}: {reverse.logging_problem(facts['login'], facts['logging_left_on'])}")
    return problems


def _ownership_problems(facts, where):
    problems = []
    if not facts["owns_database"]:
        problems.append(f"{facts['login']} does not own {where} (its owner is {facts['database_owner']}), whose setting "
                        f"and marker this tool writes: ALTER DATABASE {quote_ident(facts['database'])} OWNER TO "
                        f"{quote_ident(facts['login'])};")
    for owner, tables in sorted(facts["foreign_owners"].items()):
        problems.append(f"{facts['login']} cannot act as the owner of {', '.join(tables)} on {where} (owned by {owner}), "
                        f"which it dumps, publishes and writes back to: {_grant(facts, quote_ident(owner))}")
    return problems


def source_problems(facts, mode, reverse_stream):
    """What the monolith's server lacks for this run: ownership of the database (the freeze is
    its setting) and of every moved table; ending other roles' sessions at the freeze; the
    reverse stream's subscription; online mode's replication connections."""
    if facts["superuser"]:
        return []
    where = f"{facts['database']} (the monolith)"
    problems = _ownership_problems(facts, where)
    if not facts["signal_backend"]:
        problems.append(f"the freeze ends every other session of {facts['database']}, other roles' too: "
                        f"{_grant(facts, 'pg_signal_backend')}")
    if reverse_stream:
        problems += _subscription_problems(facts, where, "the reverse stream",
                                           "set dbsplit_reverse_stream: false (a rollback after the cutover then loses "
                                           "what the services wrote)")
    if mode == "online" and not facts["replication"]:
        problems.append(f"online mode's copy reads {facts['database']} through replication connections as "
                        f"{facts['login']}: ALTER ROLE {quote_ident(facts['login'])} REPLICATION;")
    return problems


def target_problems(facts, label, mode, reverse_stream):
    """What a new database's server lacks for this run, read once it runs (the provision phase):
    ownership of the database (restored into, and marked); the replication connection the
    monolith's reverse stream logs in with; online mode's subscription."""
    if facts["superuser"]:
        return []
    where = f"the new database {label}"
    problems = _ownership_problems(facts, where)
    if reverse_stream and not facts["replication"]:
        problems.append(f"the reverse stream reads {label} through a replication connection as {facts['login']}: "
                        f"ALTER ROLE {quote_ident(facts['login'])} REPLICATION;")
    if mode == "online":
        problems += _subscription_problems(facts, where, "online mode's copy", "use dbsplit_mode: offline")
    return problems


def new_databases_problems(servers, mode, reverse_stream):
    """target_problems of each new database (dbsplit_login_info's ``servers``, by label)."""
    return [f"target {label}: {problem}" for label, facts in sorted(servers.items())
            for problem in target_problems(facts, label, mode, reverse_stream)]
