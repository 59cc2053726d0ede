"""The cutover's log scan (case 2 of issue 26): the default patterns catch what a service logs
when its new database is wrong, and leave alone what it logs in its normal work."""
import re
from pathlib import Path

import yaml

DEFAULTS = Path(__file__).resolve().parents[2] / "roles" / "cutover" / "defaults" / "main.yml"


def scan(lines):
    patterns = yaml.safe_load(DEFAULTS.read_text())["dbsplit_log_errors"]
    # The role joins the entries with '|' and keeps the lines Jinja's `search` test matches.
    pattern = re.compile("|".join(patterns))
    return [line for line in lines if pattern.search(line)]


def test_an_error_about_the_new_database_fails_the_cutover():
    wrong = [
        'auth-service  | psycopg.errors.UndefinedTable: relation "users" does not exist',
        'candidate-service  | sqlalchemy.exc.ProgrammingError: (psycopg2.errors.UndefinedObject) type "userstatus" does not exist',
        'payment-service  | FATAL:  password authentication failed for user "postgres"',
        'document-service  | could not connect to server: Connection refused',
        'audit-service  | ERROR alembic: Can\'t locate revision identified by \'3f2a\'',
        'company-service  | psycopg2.errors.InsufficientPrivilege: permission denied for table companies',
    ]
    assert scan(wrong) == wrong


def test_the_normal_work_of_a_service_does_not():
    normal = [
        'auth-service  | ERROR: duplicate key value violates unique constraint "users_email_key"',
        'candidate-service  | sqlalchemy.exc.IntegrityError: (psycopg2.errors.UniqueViolation) duplicate key',
        'payment-service  | INFO: 172.18.0.9 - "POST /payments HTTP/1.1" 409 Conflict',
        'notification-service  | Traceback (most recent call last): ValueError: invalid e-mail',
        'audit-service  | CRITICAL worker timeout, restarting',
    ]
    assert scan(normal) == []
