"""Service settings, all from the environment (12-factor, like the real services)."""
import os
from dataclasses import dataclass

DB_INIT_MODES = ("alembic", "create_all", "none")


@dataclass(frozen=True)
class Settings:
    service_name: str
    db_host: str
    db_port: int
    db_name: str
    db_user: str
    db_password: str
    db_init: str
    http_port: int
    alembic_config: str

    def describe(self):
        """One log line; never the password."""
        return (f"service={self.service_name} db={self.db_user}@{self.db_host}:{self.db_port}/"
                f"{self.db_name} DB_INIT={self.db_init} http_port={self.http_port}")


def load(default_name, default_init="none"):
    init = os.environ.get("DB_INIT", default_init).strip().lower() or "none"
    return Settings(
        service_name=os.environ.get("SERVICE_NAME", default_name),
        db_host=os.environ.get("DB_HOST", "localhost"),
        db_port=int(os.environ.get("DB_PORT", "5432")),
        db_name=os.environ.get("DB_NAME", "postgres"),
        db_user=os.environ.get("DB_USER", "postgres"),
        db_password=os.environ.get("DB_PASSWORD", ""),
        db_init=init,
        # 8000 in the images; overridable to run several services on one host.
        http_port=int(os.environ.get("HTTP_PORT", "8000")),
        alembic_config=os.environ.get("ALEMBIC_CONFIG", "/app/alembic.ini"),
    )
