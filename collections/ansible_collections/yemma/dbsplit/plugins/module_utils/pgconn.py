"""Connections to PostgreSQL endpoints, with the session settings checksums depend on."""

# Row text depends on these settings; both sides of a comparison use the same ones.
CANONICAL_SETTINGS = {
    "TimeZone": "UTC",
    "DateStyle": "ISO, YMD",
    "IntervalStyle": "postgres",
    "extra_float_digits": "3",
    "bytea_output": "hex",
}


def connection_params(params):
    """psycopg keyword arguments from module parameters (password never logged)."""
    return {
        "host": params["login_host"],
        "port": params["login_port"],
        "user": params["login_user"],
        "password": params["login_password"],
        "dbname": params["db"],
        "connect_timeout": params.get("connect_timeout", 10),
        "application_name": params["tool_name"],
    }


def connect(psycopg, params, dbname=None, autocommit=True):
    kwargs = connection_params(params)
    if dbname:
        kwargs["dbname"] = dbname
    options = " ".join(f"-c {k}={v.replace(' ', '')}" for k, v in CANONICAL_SETTINGS.items())
    return psycopg.connect(autocommit=autocommit, options=options, **kwargs)


def quote_ident(name):
    return '"' + name.replace('"', '""') + '"'


# argument_spec of a connection, shared by every module (documented in each module).
CONNECTION_OPTIONS = dict(
    login_host=dict(type="str", required=True),
    login_port=dict(type="int", default=5432),
    login_user=dict(type="str", required=True),
    login_password=dict(type="str", required=True, no_log=True),
    db=dict(type="str", required=True),
    tool_name=dict(type="str", required=True),
)

# A connection plus what runs the client tools next to the server.
RUNTIME_OPTIONS = dict(
    CONNECTION_OPTIONS,
    tools_image=dict(type="str", required=True),
    tools_network=dict(type="str", required=True),
    tools_host=dict(type="str", required=True),
    memory_limit=dict(type="int", default=0),
)


def targets_option(endpoint_options):
    """argument_spec of ``targets``: every plan target with its endpoint (filter
    yemma.dbsplit.with_endpoints), for modules that do every target in one task."""
    return dict(type="list", elements="dict", required=True,
                options=dict(plan=dict(type="dict", required=True),
                             endpoint=dict(type="dict", required=True, options=endpoint_options)))


def servers_option(**per_server):
    """argument_spec of ``servers``: servers by name, each with its connection and the options
    ``per_server`` adds (doc fragment yemma.dbsplit.connection.SERVERS, LOGIN_SERVERS)."""
    return dict(type="list", elements="dict", required=True,
                options=dict(name=dict(type="str", required=True),
                             server=dict(type="dict", required=True, options=CONNECTION_OPTIONS), **per_server))


def tools_runtime(params):
    return {"image": params["tools_image"], "network": params["tools_network"],
            "host": params["tools_host"], "port": params["login_port"], "user": params["login_user"],
            "tool": params["tool_name"]}


def import_psycopg(module):
    """psycopg 3 on the managed host, or a failure that says how to install it."""
    try:
        import psycopg
    except ImportError:
        module.fail_json(msg="psycopg 3 is missing on the managed host: install python3-psycopg "
                             "(Debian 12) or `pip install psycopg` for its Python interpreter")
    return psycopg
