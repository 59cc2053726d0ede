"""The connection options of every dbsplit module, documented once.

A module that takes a connection dict (``source``, ``target``) extends
``yemma.dbsplit.connection.<ROLE>``; ROLE ``RUNTIME`` variants add where the PostgreSQL
client tools run; ``SERVERS`` is dbsplit_reverse_server's list of servers, each with its
connection, and ``LOGIN_SERVERS`` dbsplit_login_info's. The text is composed here so that each suboption is written once.
"""

_CONNECTION = """
      login_host: {description: Address of the server as seen from the managed host., type: str, required: true}
      login_port: {description: Port of the server., type: int, default: 5432}
      login_user: {description: Role to connect as., type: str, required: true}
      login_password: {description: Password of the role (never logged)., type: str, required: true}
      db: {description: Database., type: str, required: true}
      tool_name:
        description:
          - Name of this tool, from C(dbsplit_tool_name). It is the C(application_name) of its sessions, the prefix
            of its helper containers and their label, and the prefix of the state marker in a target's comment.
        type: str
        required: true"""

_RUNTIME = _CONNECTION + """
      tools_image: {description: Image whose PostgreSQL client tools are used (the server's own)., type: str, required: true}
      tools_network: {description: Docker network from which the tools container reaches the server., type: str, required: true}
      tools_host: {description: Name of the server on that network., type: str, required: true}
      memory_limit:
        description: Memory limit of the server's container in bytes, 0 for none (sizes the restore's maintenance_work_mem).
        type: int
        default: 0"""


def _targets(description, suboptions):
    # The connection's suboptions, one level deeper: under each target's endpoint.
    nested = "\n".join("    " + line if line else line for line in suboptions.split("\n"))
    return f"""
options:
  targets:
    description: {description}
    type: list
    elements: dict
    required: true
    suboptions:
      plan: {{description: "The plan's entry for this target (its key, database, label, tables, sequences...).", type: dict, required: true}}
      endpoint:
        description: Connection to the target database.
        type: dict
        required: true
        suboptions:{nested}
"""


def _alembic_services(suboptions):
    nested = "\n".join("    " + line if line else line for line in suboptions.split("\n"))
    return f"""
options:
  services:
    description: The Alembic services, each with its new database's connection.
    type: list
    elements: dict
    required: true
    suboptions:
      name: {{description: The service's name in the compose file., type: str, required: true}}
      alembic:
        description: How its Alembic runs (C(dbsplit_services.<name>.alembic)).
        type: dict
        required: true
        suboptions:
          args: {{description: Arguments put before the Alembic command (C(-c /app/alembic.ini))., type: list, elements: str, default: []}}
          env: {{description: Environment variables set for the run., type: dict, default: {{}}}}
          version_table: {{description: The table C(stamp head) fills., type: str, required: true}}
      endpoint:
        description: Connection to the service's new database (where its version table is read).
        type: dict
        required: true
        suboptions:{nested}
"""


def _servers(description, server, suboptions, last):
    nested = "\n".join("    " + line if line else line for line in suboptions.split("\n"))
    return f"""
options:
  servers:
    description: {description}
    type: list
    elements: dict
    required: true
    suboptions:
      name: {{description: "What the results and problems name it by (a target key, the source database).", type: str, required: true}}
      server:
        description: {server}
        type: dict
        required: true
        suboptions:{nested}
{last}"""


_STREAMS = """      streams:
        description:
          - How many slots its publications need (one a stream, online mode's copy and then its subscription), or how many
            streams it subscribes to.
        type: int
        required: true
"""

_TABLES = """      tables:
        description: Tables the login must act as the owner of, as PostgreSQL prints them.
        type: list
        elements: str
        default: []
"""


def _option(name, description, suboptions):
    return f"""
options:
  {name}:
    description: {description}
    type: dict
    required: true
    suboptions:{suboptions}
"""


class ModuleDocFragment:
    SOURCE = _option("source", "Connection to the source database.", _CONNECTION)
    TARGET = _option("target", "Connection to the target database.", _CONNECTION)
    SOURCE_RUNTIME = _option("source", "Connection to the source database, and where its client tools run.", _RUNTIME)
    TARGET_RUNTIME = _option("target", "Connection to the target database, and where its client tools run.", _RUNTIME)
    TARGETS = _targets("Every target of the plan, with its connection.", _CONNECTION)
    TARGETS_RUNTIME = _targets("Every target of the plan, with its connection and where its client tools run.", _RUNTIME)
    ALEMBIC_SERVICES = _alembic_services(_CONNECTION)
    SERVERS = _servers("The servers to prepare.", "Connection to a database of the server (a superuser, for ALTER SYSTEM).",
                       _CONNECTION, _STREAMS)
    LOGIN_SERVERS = _servers("The servers to read, each the login on one database.", "How the tool logs in there.",
                             _CONNECTION, _TABLES)
