"""sprio and sshare: Slurm 22.05's formats (from its source), filters and refusals."""

from __future__ import annotations

from stratus.slurm.views import PriorityRow, PriorityWeights, ShareRow

from .helpers import FakeBackend, run

MULTI = PriorityWeights("priority/multifactor", age=1000, fairshare=10000, jobsize=1000, partition=1000)


def prio_backend() -> FakeBackend:
    return FakeBackend(
        weights=MULTI,
        priority_rows=[
            # priority: the weighted sum less nice, truncated, as the scheduler hands it over
            PriorityRow(1235, "normal", "bob", 0.25, 0.5, 0.0, 1.0, 0, 6250),
            PriorityRow(1234, "normal", "root", 0.5, 0.90004, 0.0005, 1.0, 0, 10500),
            PriorityRow(1236, "long", "bob", 0.0, 0.5, 0.0, 0.5, 100, 5400),
        ],
    )


def test_sprio_refuses_priority_basic() -> None:
    res = run(FakeBackend(), "sprio")
    assert res.exit_code == 1
    assert res.stdout == ""
    assert res.stderr == (
        "You are not running a supported priority plugin\n(priority/basic).\n"
        "Only 'priority/multifactor' is supported.\n"
    )


def test_sprio_default_columns_follow_the_weights() -> None:
    res = run(prio_backend(), "sprio")
    assert res.exit_code == 0, res.stderr
    assert res.stdout.splitlines() == [
        "          JOBID PARTITION   PRIORITY       SITE        AGE  FAIRSHARE    JOBSIZE  PARTITION",
        "           1234 normal         10500          0        500       9000          0       1000",
        "           1235 normal          6250          0        250       5000          0       1000",
        "           1236 long            5400          0          0       5000          0        500",
    ]
    only_age = FakeBackend(weights=PriorityWeights("priority/multifactor", age=1000), priority_rows=[])
    assert run(only_age, "sprio").stdout == "          JOBID PARTITION   PRIORITY       SITE        AGE\n"


def test_sprio_nice_lowers_priority_and_long_format() -> None:
    res = run(prio_backend(), "sprio -l -j 1236")
    header, row = res.stdout.splitlines()
    assert header == (
        "          JOBID PARTITION     USER   PRIORITY       SITE        AGE      ASSOC  FAIRSHARE    JOBSIZE"
        "  PARTITION        QOS        NICE                 TRES"
    )
    assert row.split() == ["1236", "long", "bob", "5400", "0", "0", "0", "5000", "0", "500", "0", "100"]


def test_sprio_normalized_and_weights() -> None:
    res = run(prio_backend(), "sprio -n -j1234")
    assert res.stdout.splitlines() == [
        "          JOBID PARTITION PRIORITY   AGE        FAIRSHARE  JOBSIZE    PARTITION ",
        "           1234 normal    0.00000244 0.5000000  0.9000400  0.0005000  1.0000000 ",
    ]
    res = run(prio_backend(), "sprio -w")
    assert res.stdout.splitlines()[1] == (
        "        Weights                               1       1000      10000       1000       1000"
    )


def test_sprio_filters_sort_and_no_match() -> None:
    res = run(prio_backend(), "sprio -h -u bob -S -y")
    assert [line.split()[0] for line in res.stdout.splitlines()] == ["1235", "1236"]
    assert run(prio_backend(), "sprio -h -p long").stdout.split()[0] == "1236"
    res = run(prio_backend(), "sprio -j 999")
    assert (res.stdout, res.exit_code) == ("Unable to find jobs matching user/id(s) specified\n", 0)
    res = run(prio_backend(), "sprio -j abc")
    assert (res.stderr, res.exit_code) == ("sprio: error: Invalid job id: abc\n", 1)


def test_sprio_format_and_bad_options() -> None:
    res = run(prio_backend(), "sprio -h -o '%i|%Y|%n' -j 1234")
    assert res.stdout == "1234|10500|\n" or res.stdout == "1234|10500\n"
    assert res.stderr == "sprio: error: Invalid job format specification: n\n"
    res = run(prio_backend(), "sprio -l -o %i")
    assert res.exit_code == 1 and "mutually exclusive" in res.stderr
    res = run(prio_backend(), "sprio --bogus")
    assert res.exit_code == 1
    assert res.stderr == "sprio: unrecognized option '--bogus'\nTry \"sprio --help\" for more information\n"


SHARES = [
    ShareRow("root", None, 0, None, 1.0, 158435.9, None, 1.0, 0.5),
    ShareRow("root", "root", 1, 1, 0.5, 150000.0, 0.9467, 0.9467, 0.26917),
    ShareRow("physics", None, 1, 1, 0.5, 8435.0, 0.0532, 0.0532, 0.92892),
    ShareRow("physics", "alice", 2, 1, 0.25, 8435.0, 0.0532, 0.0532, 0.86290),
    ShareRow("physics", "bob", 2, 1, 0.25, 0.0, 0.0, 0.0266, 0.92892),
]


def share_backend() -> FakeBackend:
    return FakeBackend(weights=MULTI, share_rows=list(SHARES))


def test_sshare_default_shows_accounts_and_own_user() -> None:
    res = run(share_backend(), "sshare")
    assert res.exit_code == 0, res.stderr
    assert res.stdout.splitlines() == [
        "Account                    User  RawShares  NormShares    RawUsage  EffectvUsage  FairShare ",
        "-------------------- ---------- ---------- ----------- ----------- ------------- ---------- ",
        "root                                          1.000000      158435      1.000000   0.500000 ",
        " root                      root          1    0.500000      150000      0.946700   0.269170 ",
        " physics                                 1    0.500000        8435      0.053200   0.928920 ",
    ]


def test_sshare_all_users_parsable_and_filters() -> None:
    res = run(share_backend(), "sshare -a -P -o Account,User,RawUsage,Fairshare")
    assert res.stdout.splitlines() == [
        "Account|User|RawUsage|FairShare",
        "root||158435|0.500000",
        " root|root|150000|0.269170",
        " physics||8435|0.928920",
        "  physics|alice|8435|0.862900",
        "  physics|bob|0|0.928920",
    ]
    res = run(share_backend(), "sshare -U -u alice -p -n -o User,Fairshare")
    assert res.stdout == "alice|0.862900|\n"
    res = run(share_backend(), "sshare -a -A physics -n -o User")
    assert res.stdout == "           \n     alice \n       bob \n"


def test_sshare_long_and_bad_field() -> None:
    res = run(share_backend(), "sshare -l")
    assert res.stdout.splitlines()[0] == (
        "Account                    User  RawShares  NormShares    RawUsage   NormUsage  EffectvUsage"
        "  FairShare                    GrpTRESMins                    TRESRunMins "
    )
    res = run(share_backend(), "sshare -o Bogus")
    assert (res.stderr, res.exit_code) == ('sshare: error: Invalid field requested: "Bogus"\n', 1)
    assert "Account          Cluster" in run(share_backend(), "sshare -e").stdout


def test_sshare_cuts_long_names_with_a_plus() -> None:
    rows = [ShareRow("a-very-long-account-name", None, 1, 1, 1.0, 0.0, 0.0, 0.0, 1.0)]
    res = run(FakeBackend(share_rows=rows), "sshare -n -o Account")
    assert res.stdout == " a-very-long-accoun+ \n"
