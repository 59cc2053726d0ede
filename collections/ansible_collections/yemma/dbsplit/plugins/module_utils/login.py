"""What the tool's login may do on a server: the facts the privileges a phase needs are judged
from (plugin_utils/privileges.py). Only reads; every query works from PostgreSQL 13 on.
"""

# A role's privileges count when they are usable (pg_has_role ... USAGE: a member that
# inherits them), as PostgreSQL checks them.
LOGIN_SQL = """
SELECT r.rolname, r.rolsuper, r.rolreplication,
       pg_has_role(r.oid, 'pg_signal_backend', 'USAGE'),
       EXISTS (SELECT FROM pg_roles s WHERE s.rolname = 'pg_create_subscription' AND pg_has_role(r.oid, s.oid, 'USAGE')),
       pg_has_role(r.oid, d.datdba, 'USAGE'), pg_get_userbyid(d.datdba), d.datname,
       current_setting('server_version_num')::int
FROM pg_roles r, pg_database d
WHERE r.rolname = current_user AND d.datname = current_database()
"""

# Tables of ``tables`` the login cannot act as the owner of: {owner: [tables]}.
FOREIGN_OWNERS_SQL = """
SELECT pg_get_userbyid(c.relowner), array_agg(c.oid::regclass::text ORDER BY c.oid::regclass::text)
FROM pg_class c
WHERE c.oid = ANY(%s::regclass[]) AND NOT pg_has_role(current_user, c.relowner, 'USAGE')
GROUP BY 1 ORDER BY 1
"""


def read(conn, tables=()):
    """{login, superuser, replication, signal_backend, create_subscription,
    owns_database, database_owner, database, server_version, foreign_owners, logging_left_on}:
    ``tables`` are those the login must act as the owner of (dump, publish, apply);
    ``logging_left_on``: see logging_left_on."""
    (login, superuser, replication, signal_backend, create_subscription, owns_database, database_owner,
     database, server_version) = conn.execute(LOGIN_SQL).fetchone()
    foreign = dict(conn.execute(FOREIGN_OWNERS_SQL, (list(tables),)).fetchall()) if tables else {}
    return {"login": login, "superuser": superuser, "replication": replication,
            "signal_backend": signal_backend, "create_subscription": create_subscription,
            "owns_database": owns_database, "database_owner": database_owner, "database": database,
            "server_version": server_version, "foreign_owners": foreign,
            "logging_left_on": [f"{name} = {value}" for name, value in logging_left_on(conn)]}


def may_alter_system(conn, names):
    """Whether the login may ALTER SYSTEM SET each of ``names``: a superuser, or (PostgreSQL 15
    on) a role granted it per parameter (GRANT ALTER SYSTEM ON PARAMETER)."""
    superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
    if superuser or not names:
        return True
    if conn.info.server_version < 150000:
        return False
    return conn.execute("SELECT bool_and(has_parameter_privilege(n, 'ALTER SYSTEM')) FROM unnest(%s::text[]) n",
                        (list(names),)).fetchone()[0]


# Every setting by which a server writes a statement's text to its log or keeps it
# (pg_stat_statements), and its value that keeps CREATE SUBSCRIPTION's text (which carries the
# password) out: logged statements, failed ones (log_min_error_statement prints the statement
# with its error), slow or sampled ones (log_min_duration_*, the sample rates, common where
# pgBadger reads the log), the parse trees of debug_print_*, and pg_stat_statements' record of
# utility statements. A setting the server lacks (an older version, pg_stat_statements not
# loaded) is skipped.
STATEMENT_LOGGING_OFF = {
    "log_statement": "none",
    "log_min_error_statement": "panic",
    "log_min_duration_statement": "-1",
    "log_min_duration_sample": "-1",
    "log_statement_sample_rate": "0",
    "log_transaction_sample_rate": "0",
    "debug_print_parse": "off",
    "debug_print_rewritten": "off",
    "debug_print_plan": "off",
    "pg_stat_statements.track_utility": "off",
}

# Each setting's value in this session, and whether the session may change it: any role a
# setting of context user, a superuser any, and from PostgreSQL 15 a role granted SET on it.
SETTABLE_SQL = {
    False: "SELECT name, setting, context = 'user' OR %(superuser)s FROM pg_settings WHERE name = ANY(%(names)s)",
    True: "SELECT name, setting, context = 'user' OR %(superuser)s OR has_parameter_privilege(name, 'SET') "
          "FROM pg_settings WHERE name = ANY(%(names)s)",
}


def _would_log(name, value, settings):
    """Whether ``name`` at ``value`` would log or keep CREATE SUBSCRIPTION's text."""
    if name == "log_statement":
        return value in ("ddl", "all")
    if name == "log_min_error_statement":
        return value != "panic"  # the statement is printed with its error, should it fail
    if name in ("log_min_duration_statement", "log_min_duration_sample"):
        sampled = name == "log_min_duration_statement" or float(settings.get("log_statement_sample_rate", "0")) > 0
        return int(value) >= 0 and sampled
    if name == "log_transaction_sample_rate":
        return float(value) > 0
    if name == "pg_stat_statements.track_utility":
        return value == "on" and settings.get("pg_stat_statements.track", "top") != "none"
    if name.startswith("debug_print_"):
        return value == "on"
    return False


def _settable(conn):
    superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
    names = [*STATEMENT_LOGGING_OFF, "pg_stat_statements.track"]
    rows = conn.execute(SETTABLE_SQL[conn.info.server_version >= 150000], {"superuser": superuser, "names": names})
    return {name: (setting, may) for name, setting, may in rows.fetchall()}


def logging_left_on(conn):
    """[(name, value that turns it off)] of the settings that would log or keep CREATE
    SUBSCRIPTION's text, with its password, and that this session may not turn off."""
    settable = _settable(conn)
    values = {name: setting for name, (setting, _may) in settable.items()}
    return [(name, STATEMENT_LOGGING_OFF[name]) for name, (setting, may) in sorted(settable.items())
            if name in STATEMENT_LOGGING_OFF and not may and _would_log(name, setting, values)]


def turn_off_logging(conn):
    """Turn off, for this session, everything that would log or keep a statement's text and
    that it may; return logging_left_on (the caller refuses to run the statement)."""
    for name, (_setting, may) in _settable(conn).items():
        if may and name in STATEMENT_LOGGING_OFF:
            conn.execute("SELECT set_config(%s, %s, false)", (name, STATEMENT_LOGGING_OFF[name]))
    return logging_left_on(conn)
