"""The Lua scripts and their Python builders agree: argument names and order, key indexes, op codes.

Each script's header reads its fixed ARGV into named locals and names the index its variable
section starts at (``TAIL``); past the header no argument is read at a literal index. A script
that drifts from its builder (as resume.lua once did, logging its children from argument 5 after
two timeout arguments were added before them) fails here.
"""

from __future__ import annotations

import re

import pytest

from routilux.distributed.protocol.args import BUILDERS, to_argv
from routilux.distributed.protocol.constants import LUA_CONSTANTS
from routilux.distributed.protocol.replies import REPLIES
from routilux.distributed.protocol.keys import INDEX_PARTS, JOB_PARTS, SCRIPT_KEY_PARTS, Keys
from routilux.distributed.protocol.scripts import NAMES, constants_lua, lua_text, source
from routilux.errors import DecodeError
from routilux.ops import Op

HEADER_LINE = re.compile(r"^local (\w+) = (?:tonumber\()?ARGV\[(\d+)\]\)?\s*(?:--.*)?$")
TAIL_LINE = re.compile(r"^local TAIL = (\d+)\s*(?:--.*)?$")
LITERAL_ARGV = re.compile(r"ARGV\[\s*\d")
LITERAL_LOOP = re.compile(r"=\s*\d+\s*,\s*#ARGV")

# resume.lua as it was: the children were logged from argument 5, two timeout arguments too early.
DRIFTED_RESUME = """\
local job, grace_ms, n_deferred, history = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local timeout_ms, timeout_s = ARGV[5], ARGV[6]
local i = 7
while i < #ARGV do i = i + 2 end
local kids = {}
for j = 5, #ARGV do kids[#kids + 1] = ARGV[j] end
"""


def header(text: str) -> tuple[list[str], int | None, list[str]]:
    """(ARGV names by index, the TAIL index or None, the problems found) of a script's text."""
    names: dict[int, str] = {}
    tail = None
    problems = []
    for n, line in enumerate(text.splitlines(), 1):
        named, tail_at = HEADER_LINE.match(line), TAIL_LINE.match(line)
        if named:
            names[int(named.group(2))] = named.group(1)
        elif tail_at:
            tail = int(tail_at.group(1))
        elif LITERAL_ARGV.search(line) or LITERAL_LOOP.search(line):
            problems.append(f"line {n} reads ARGV at a literal index outside the header: {line.strip()}")
    if sorted(names) != list(range(1, len(names) + 1)):
        problems.append(f"the header's ARGV indexes are not 1..n: {sorted(names)}")
    return [names[i] for i in sorted(names)], tail, problems


def has_tail(builder: type) -> bool:
    return hasattr(builder, "tail")


def test_every_script_has_a_builder_and_every_lua_file_is_a_script():
    from importlib import resources

    shipped = {p.name[:-4] for p in (resources.files("routilux.distributed.protocol") / "lua").iterdir()
               if p.name.endswith(".lua")}
    assert shipped == set(NAMES) | {"_common"}
    assert set(BUILDERS) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_a_scripts_header_names_its_builders_arguments_in_order(name):
    builder = BUILDERS[name]
    names, tail, problems = header(lua_text(name))
    assert problems == []
    assert tuple(names) == builder.ARGV
    assert tail == (len(builder.ARGV) + 1 if has_tail(builder) else None)


@pytest.mark.parametrize("name", NAMES)
def test_a_builder_names_only_what_it_has_and_lays_out_each_field(name):
    builder = BUILDERS[name]
    fields = set(builder._fields)
    assert all(hasattr(builder, n) or n in fields for n in builder.ARGV)
    unnamed = fields - set(builder.ARGV)
    assert bool(unnamed) == has_tail(builder), f"{builder.__name__}: {unnamed} reach the script only in its tail"


def test_a_drift_like_resumes_old_one_is_found():
    _, _, problems = header(DRIFTED_RESUME)
    assert any("for j = 5, #ARGV" in p for p in problems)
    assert any("ARGV[5]" in p for p in problems)


def test_the_resume_arguments_put_the_children_where_the_script_reads_them():
    args = BUILDERS["resume"]("job", 10, 1, b"h", "", "", (("kid", b"body"),))
    argv = to_argv(args)
    _, tail, _ = header(lua_text("resume"))
    assert argv[tail - 1:] == ["kid", b"body"]


def test_the_commit_arguments_lay_out_reads_ops_and_children_after_the_named_ones():
    args = BUILDERS["commit"]("job", "act", "1", "ok", "", 10, 0, "", "", "", "", 0, "r", "s", "", 12,
                              reads=(("sd:k", 2),), ops=(("sd", "k", b"v", ""),), children=(("kid", b"body"),))
    argv = to_argv(args)
    named = dict(zip(BUILDERS["commit"].ARGV, argv))
    assert (named["n_reads"], named["n_ops"]) == (1, 1)
    assert argv[len(named):] == ["sd:k", 2, "sd", "k", b"v", "", "kid", b"body"]


def test_the_key_constants_of_the_scripts_follow_the_key_parts():
    generated = dict(re.findall(r"^local (K_\w+) = (\d+)$", constants_lua(), re.M))
    assert generated == {f"K_{p.upper()}": str(i) for i, p in enumerate(SCRIPT_KEY_PARTS, 1)}
    keys = Keys("p", 4)
    script_keys = keys.script_keys("job-1", "slot")
    assert script_keys[:len(JOB_PARTS)] == keys.job_parts("job-1")
    bucket = keys.bucket_of("job-1")
    by_part = {p: (keys.slot_wait("job-1", "slot") if p == "wait" else getattr(keys, p)(bucket)) for p in INDEX_PARTS}
    assert script_keys[len(JOB_PARTS):] == [by_part[p] for p in INDEX_PARTS]


def test_the_op_constants_of_the_scripts_are_the_op_codes():
    generated = dict(re.findall(r"^local (OP_\w+) = '(\w+)'$", constants_lua(), re.M))
    assert generated == {f"OP_{op.name}": op.code for op in Op}
    numbers = dict(re.findall(r"^local ([A-Z_]+) = (\d+)$", constants_lua(), re.M))
    assert {k: int(numbers[k]) for k in LUA_CONSTANTS} == LUA_CONSTANTS


@pytest.mark.parametrize("name", ["_common", *NAMES])
def test_scripts_use_only_generated_constants_and_no_op_code_literals(name):
    text = lua_text(name)
    defined = set(re.findall(r"^local ([A-Z][A-Z_]+) = ", constants_lua() + lua_text("_common"), re.M))
    used = set(re.findall(r"\b((?:K|OP)_[A-Z_]+)\b", text))
    assert used <= defined
    assert not re.search(r"kind [=~]= '", text), "compare op kinds with the OP_* constants"
    assert not re.search(r"^local (?:K|OP)_", text, re.M), "key and op constants are generated, not written"


def test_every_script_text_starts_with_the_generated_constants():
    assert all(source(name).startswith(constants_lua()) for name in NAMES)


def test_an_op_is_its_code_and_decodes_from_redis_bytes():
    assert Op.SD == "sd" and {"sd": 1}[Op.SD] == 1 and {Op.SD: 1}["sd"] == 1
    assert f"{Op.RS}:x" == "rs:x" and Op.OUT.code == "o"
    assert [Op.decode(op.code.encode()) for op in Op] == list(Op)
    with pytest.raises(DecodeError, match="unknown state-change op"):
        Op.decode(b"zz")


RETURNED = re.compile(r"return \{'([a-z-]+)'")


def outcomes_of(text: str) -> set[str]:
    """The first words a script's text answers with (``return {'word', ...}``)."""
    return set(RETURNED.findall(text))


@pytest.mark.parametrize("name", sorted(REPLIES))
def test_every_answer_a_script_gives_is_one_its_python_reply_knows(name):
    reply = REPLIES[name]
    answered = outcomes_of(lua_text(name))
    assert answered and answered <= reply.OUTCOMES, f"{name}.lua answers {sorted(answered - reply.OUTCOMES)}"
    sharing = [other for other, cls in REPLIES.items() if cls is reply]
    if sharing == [name]:  # a reply of one script only: it knows nothing that script never answers
        assert reply.OUTCOMES == answered


def test_a_script_answering_a_word_its_reply_does_not_know_is_found():
    drifted = lua_text("claim") + "\nreturn {'throttled'}\n"
    assert not outcomes_of(drifted) <= REPLIES["claim"].OUTCOMES
