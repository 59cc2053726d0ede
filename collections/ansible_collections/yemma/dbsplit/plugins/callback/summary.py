# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The operator's view of a run: what each phase says, and nothing else, unless -v."""

from __future__ import annotations

DOCUMENTATION = r"""
name: summary
type: stdout
short_description: One line per play, the phases' own messages, failures and the recap (detail with -v)
description:
  - At verbosity 0 it prints each play's name (only for a play that prints something, so the
    phases a run's tags leave out take no line), the messages of C(debug) tasks (a list is
    printed one line per element, so a report written as Markdown lines reads as Markdown),
    one line per task that changed something (a loop's changed items on that line), a line
    every 30 s while a task waits (the restores), every failure once (its task's name, then its
    message one line per problem), and the recap. Task banners and ok or skipped results are left
    out; the tasks write their own summaries.
  - With -v or more it prints exactly what the C(default) callback prints.
extends_documentation_fragment:
  - default_callback
  - result_format_callback
requirements:
  - set as stdout_callback in ansible.cfg (C(stdout_callback = yemma.dbsplit.summary))
"""

from ansible import constants as C
from ansible.plugins.callback.default import CallbackModule as DefaultCallback

DEBUG_ACTIONS = ("debug", "ansible.builtin.debug", "ansible.legacy.debug")
# async_status polls every 2 s: one line per 15 polls.
RETRIES_PER_LINE = 15


def _result(result):
    return result.result if hasattr(result, "result") else result._result


def _task_name(task):
    """The task's own name, without its role's prefix (the tasks name their phase)."""
    return (task.name or task.action).strip()


class CallbackModule(DefaultCallback):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "yemma.dbsplit.summary"

    def __init__(self):
        super().__init__()
        self._pending_play_name = None
        self._last_progress = None

    def _detailed(self):
        return self._display.verbosity > 0

    def _flush_play_name(self):
        if self._pending_play_name:
            self._display.display(f"\n== {self._pending_play_name}", color="bright blue")
            self._pending_play_name = None

    def _say(self, text, color=None):
        self._flush_play_name()
        self._display.display(text, color=color)

    def _say_message(self, result):
        values = _result(result)
        if "msg" not in values:  # debug: var=...
            for key, value in values.items():
                if not key.startswith("_") and key not in ("changed", "failed", "skipped", "item", "ansible_loop_var"):
                    self._say(f"  {key}: {value}")
            return
        msg = values["msg"]
        for line in msg if isinstance(msg, list) else [msg]:
            self._say(f"  {line}")

    def v2_playbook_on_play_start(self, play):
        if self._detailed():
            return super().v2_playbook_on_play_start(play)
        self._play = play
        self._pending_play_name = play.get_name().strip()

    def v2_playbook_on_task_start(self, task, is_conditional):
        if self._detailed():
            return super().v2_playbook_on_task_start(task, is_conditional)
        self._last_task_name = task.get_name().strip()

    def v2_runner_on_ok(self, result):
        if self._detailed():
            return super().v2_runner_on_ok(result)
        if result.task.action in DEBUG_ACTIONS:
            self._say_message(result)
        elif "results" in _result(result):
            labels = [self._get_item_label(item) for item in _result(result)["results"] if item.get("changed")]
            if labels:
                self._say(f"  changed: {_task_name(result.task)} ({', '.join(map(str, labels))})", color="yellow")
        elif _result(result).get("changed"):
            self._say(f"  changed: {_task_name(result.task)}", color="yellow")

    def v2_runner_item_on_ok(self, result):
        if self._detailed():
            return super().v2_runner_item_on_ok(result)
        if result.task.action in DEBUG_ACTIONS:
            self._say_message(result)

    def v2_runner_retry(self, result):
        if self._detailed():
            return super().v2_runner_retry(result)
        attempts = _result(result).get("attempts", 0)
        # A module that reports its progress ("line": rows or bytes done, time left, lag) is
        # shown at each poll where the line changed; otherwise a reminder now and then.
        line = _result(result).get("line")
        if line:
            if line != self._last_progress:
                self._say(f"  {line}")
                self._last_progress = line
        elif attempts % RETRIES_PER_LINE == 0:
            self._say(f"  still waiting: {_task_name(result.task)} (attempt {attempts})")

    def _say_failure(self, result, ignore_errors=False):
        """A failure once: the task, then its message one line per problem (a refusal's list of
        problems, each with its fix), instead of the message as one line and again as YAML."""
        values = _result(result)
        msg = values.get("msg") or values.get("stderr") or "failed (see -v for the module's result)"
        lines = [str(line) for line in msg] if isinstance(msg, list) else str(msg).splitlines() or [""]
        label = f" ({self._get_item_label(values)})" if "item" in values or "ansible_loop_var" in values else ""
        self._say(f"  FAILED: {_task_name(result.task)}{label}", color=C.COLOR_ERROR)
        for line in lines:
            self._say(f"    {line}", color=C.COLOR_ERROR)
        if ignore_errors:
            self._say("    ...ignored", color=C.COLOR_SKIP)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if self._detailed():
            self._flush_play_name()
            return super().v2_runner_on_failed(result, ignore_errors)
        if "results" in _result(result):
            return None  # a loop: each failed item was said (v2_runner_item_on_failed)
        return self._say_failure(result, ignore_errors)

    def v2_runner_item_on_failed(self, result):
        if self._detailed():
            self._flush_play_name()
            return super().v2_runner_item_on_failed(result)
        return self._say_failure(result)

    def v2_runner_on_unreachable(self, result):
        self._flush_play_name()
        return super().v2_runner_on_unreachable(result)


def _silent_unless_verbose(name):
    """An event the operator does not need at verbosity 0: printed as the default callback does with -v."""
    def event(self, *args, **kwargs):
        if self._detailed():
            return getattr(DefaultCallback, name)(self, *args, **kwargs)
        return None
    event.__name__ = name
    return event


for _event in ("v2_playbook_on_handler_task_start", "v2_runner_on_start", "v2_playbook_on_include", "v2_runner_on_skipped",
               "v2_runner_item_on_skipped", "v2_runner_on_async_poll", "v2_runner_on_async_ok"):
    setattr(CallbackModule, _event, _silent_unless_verbose(_event))
