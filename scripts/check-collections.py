"""Check that the collections Ansible finds satisfy requirements.yml (exit 1 with the fix).

Run with the venv's Python: it asks ansible-galaxy which versions are installed, so it
sees exactly what the playbooks will load (the pip bundle or ~/.ansible/collections).
"""

import json
import os
import subprocess
import sys

import yaml
from ansible.utils.version import SemanticVersion

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def satisfies(version, spec):
    checks = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
              "<": lambda a, b: a < b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}
    for clause in spec.split(","):
        clause = clause.strip()
        op = next(o for o in (">=", "<=", "==", "!=", ">", "<") if clause.startswith(o))
        if not checks[op](SemanticVersion(version), SemanticVersion(clause[len(op):].strip())):
            return False
    return True


def main():
    with open(os.path.join(ROOT, "requirements.yml")) as stream:
        wanted = yaml.safe_load(stream)["collections"]
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-galaxy"), "collection", "list",
                          "--format", "json"], capture_output=True, text=True, check=True, timeout=120,
                         env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))).stdout
    found = {}
    for collections in json.loads(out).values():
        for name, info in collections.items():
            found.setdefault(name, info["version"])  # the first path wins, as when playbooks load it
    problems = []
    for item in wanted:
        version = found.get(item["name"])
        if version is None:
            problems.append(f"{item['name']} is not installed: ansible-galaxy collection install -r requirements.yml")
        elif not satisfies(version, item["version"]):
            problems.append(f"{item['name']} {version} does not satisfy {item['version']}: "
                            "ansible-galaxy collection install --upgrade -r requirements.yml")
        else:
            print(f"collections: {item['name']} {version} satisfies {item['version']}")
    if problems:
        sys.exit("\n".join(problems))


if __name__ == "__main__":
    main()
