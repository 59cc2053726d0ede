#!/usr/bin/env python3
"""Figures of the Ansible layer (issue 26's measure of how thin the YAML is): tasks by kind,
`when:` conditions (and those on ansible_check_mode), Jinja expressions and the longest one.

    python3 scripts/yaml_stats.py [ROOT]     (default: this checkout)

Counts every task of roles/*/tasks, playbooks/ and the root playbooks (blocks are not tasks;
their tasks are). A Jinja expression is one {{ ... }} or {% ... %} in a string value, in those
files and in the roles' vars and defaults (an ``!unsafe`` string is no template, and not counted).
"""

import glob
import os
import re
import sys

import yaml

ROOT = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] != "-v" else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KINDS = {"set_fact": "set_fact", "assert": "assert", "debug": "debug", "fail": "fail",
         "include_role": "include/import", "import_role": "include/import", "include_tasks": "include/import",
         "import_tasks": "include/import", "import_playbook": "include/import"}
yaml.SafeLoader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))
JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
TASK_KEYS = {"name", "when", "vars", "register", "loop", "loop_control", "tags", "check_mode", "changed_when",
             "failed_when", "no_log", "delegate_to", "run_once", "until", "retries", "delay", "async", "poll",
             "notify", "become", "environment", "ignore_errors", "args", "block", "rescue", "always", "any_errors_fatal"}


def module_of(task):
    for key in task:
        if key not in TASK_KEYS:
            return key.split(".")[-1]
    return None


def walk_tasks(items):
    for item in items or []:
        if not isinstance(item, dict):
            continue
        if "block" in item:
            for part in ("block", "rescue", "always"):
                yield from walk_tasks(item.get(part))
            if "when" in item:
                yield {"__block_when__": item["when"]}
        else:
            yield item


def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def main():
    files = sorted(glob.glob(os.path.join(ROOT, "roles", "*", "tasks", "*.yml"))
                   + glob.glob(os.path.join(ROOT, "playbooks", "*.yml")) + glob.glob(os.path.join(ROOT, "*.yml")))
    counts = {"tasks": 0, "custom module": 0, "when": 0, "when on ansible_check_mode": 0}
    expressions = []
    for path in sorted(glob.glob(os.path.join(ROOT, "roles", "*", "vars", "*.yml"))
                       + glob.glob(os.path.join(ROOT, "roles", "*", "defaults", "*.yml"))):
        with open(path) as stream:
            text = stream.read()
        data = yaml.safe_load(text)
        for value in strings(data):
            expressions += [(len(m.group(0)), os.path.relpath(path, ROOT)) for m in JINJA.finditer(value)]
    for path in files:
        with open(path) as stream:
            data = yaml.safe_load(stream)
        if not isinstance(data, list):
            continue
        plays = [d for d in data if isinstance(d, dict) and ("hosts" in d or "import_playbook" in d
                                                             or "ansible.builtin.import_playbook" in d)]
        task_lists = [t for play in plays for part in ("tasks", "pre_tasks", "post_tasks") for t in [play.get(part)] if t] \
            if plays else [data]
        for play in plays:
            if "import_playbook" in play or "ansible.builtin.import_playbook" in play:
                counts["include/import"] = counts.get("include/import", 0) + 1
        for tasks in task_lists:
            for task in walk_tasks(tasks):
                when = task.get("__block_when__", task.get("when"))
                if when is not None:
                    counts["when"] += 1
                    if "ansible_check_mode" in str(when):
                        counts["when on ansible_check_mode"] += 1
                if "__block_when__" in task:
                    continue
                counts["tasks"] += 1
                module = module_of(task)
                kind = KINDS.get(module)
                if kind:
                    counts[kind] = counts.get(kind, 0) + 1
                elif module and module.startswith("dbsplit_"):
                    counts["custom module"] += 1
        for text in strings(data):
            expressions += [(len(m.group(0)), os.path.relpath(path, ROOT)) for m in JINJA.finditer(text)]
    longest = max(expressions) if expressions else (0, "")
    print(f"files: {len(files)}")
    for key in ("tasks", "set_fact", "assert", "debug", "fail", "include/import", "custom module", "when",
                "when on ansible_check_mode"):
        print(f"{key}: {counts.get(key, 0)}")
    print(f"set_fact + assert + debug: {sum(counts.get(k, 0) for k in ('set_fact', 'assert', 'debug'))}")
    print(f"Jinja expressions: {len(expressions)}; over 200 characters: {sum(1 for n, _ in expressions if n > 200)}; "
          f"over 500: {sum(1 for n, _ in expressions if n > 500)}; longest: {longest[0]} ({longest[1]})")
    if "-v" in sys.argv:
        for length, path in sorted(expressions, reverse=True):
            if length > 200:
                print(f"  {length} {path}")


if __name__ == "__main__":
    main()
