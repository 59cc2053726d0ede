import json

from ansible_collections.yemma.dbsplit.plugins.module_utils import host
from ansible_collections.yemma.dbsplit.plugins.plugin_utils import settings


def test_the_images_on_the_host_answer_to_their_tags_and_digests():
    listing = "\n".join(json.dumps(image) for image in [
        {"Repository": "local/yemma-auth", "Tag": "latest", "Digest": "<none>"},
        {"Repository": "postgres", "Tag": "15", "Digest": "sha256:abc"},
        {"Repository": "<none>", "Tag": "<none>", "Digest": "<none>"},  # a dangling layer answers to nothing
    ]) + "\n"
    names = host.image_names(listing)
    assert names == ["local/yemma-auth:latest", "postgres:15", "postgres@sha256:abc"]
    # What the preflight then asks of them: a compose image without a tag is :latest.
    stacks = {"docker-compose.yml": {"services": {"auth": {"image": "local/yemma-auth"}, "db": {"image": "postgres:16"}}}}
    problems = settings.image_problems(settings.compose_images("yemma", stacks), names)
    assert len(problems) == 1 and problems[0].startswith("image postgres:16 (service db of docker-compose.yml)")


def test_the_ram_is_read_in_mb_as_ansible_reads_it():
    assert host.memtotal_mb("MemTotal:       24605360 kB\nMemFree:        1000 kB\n") == 24028


def test_a_missing_command_is_an_answer_not_a_crash():
    rc, _out, err = host.run(["dbsplit-no-such-command"])
    assert rc == 127 and "not found" in err
