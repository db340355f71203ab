"""``@group`` lines in the rights file: a person's rights are the union of their own (their
line, else ``*``, else read-only) and their groups' lines; ``sources_of`` says which line
gave what (``check-config --explain``)."""

from __future__ import annotations

from dynopypi.auth.identity import DOWNLOAD, LIST, UPDATE, Identity
from dynopypi.auth.policy import Policy
from dynopypi.auth.rights import READ_ONLY, parse_rights, rights_of, sources_of

RULES = parse_rights(
    """\
alice           list
*               list,download
@py-publishers  update          acme-*
@tools          update          tools-*
@auditors       list
"""
)


def test_a_group_line_adds_to_the_star_line() -> None:
    rights = rights_of(RULES, "bob", frozenset({"py-publishers"}))
    assert rights.allows(DOWNLOAD, None) and rights.allows(UPDATE, "acme-x")
    assert not rights.allows(UPDATE, "other")


def test_a_group_line_adds_to_the_own_line() -> None:
    rights = rights_of(RULES, "alice", frozenset({"py-publishers"}))
    assert rights.allows(LIST, None) and rights.allows(UPDATE, "acme-x")
    assert not rights.allows(DOWNLOAD, None)  # her own line replaces '*', as before


def test_globs_of_every_updating_group_apply() -> None:
    rights = rights_of(RULES, "carol", frozenset({"py-publishers", "tools", "auditors"}))
    assert rights.allows(UPDATE, "acme-x") and rights.allows(UPDATE, "tools-y")
    assert not rights.allows(UPDATE, "other")


def test_unknown_groups_and_no_groups_change_nothing() -> None:
    assert rights_of(RULES, "bob", frozenset({"nobody-knows"})) == RULES["*"]
    assert rights_of(RULES, "bob") == RULES["*"]
    assert rights_of({}, "bob") == READ_ONLY


def test_a_user_named_like_a_group_line_does_not_get_it() -> None:
    assert not rights_of(RULES, "@py-publishers").allows(UPDATE, "acme-x")


def test_the_policy_uses_the_identity_groups() -> None:
    policy = Policy(frozenset({UPDATE}), RULES)
    member = Identity("dave", "basic", groups=frozenset({"py-publishers"}))
    assert policy.allows(member, UPDATE, "acme-x")
    assert not policy.allows(Identity("dave", "basic"), UPDATE, "acme-x")


def test_sources_name_each_line() -> None:
    found = sources_of(RULES, "alice", frozenset({"tools", "nobody-knows", "py-publishers"}))
    assert [name for name, _ in found] == ["alice", "@py-publishers", "@tools"]
    assert [name for name, _ in sources_of(RULES, "bob")] == ["*"]
    assert sources_of({}, "bob") == [("(default)", READ_ONLY)]
