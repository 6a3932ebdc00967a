"""hw.sta: worst distinct setup paths from a nextpnr SDF, on a hand-written SDF with known
delays and on a real place-and-route of the registered E2M1 multiplier (checked against the
critical path nextpnr reports)."""


import pytest

from hw import sta, synth

# Two source registers of bus `a`, two destination registers of bus `r`, a LUT, an input pin
# nothing drives (an out-of-context port) and a constant driver. Delays in ps.
#   a[0].Q -(clk-q 500)- net 400 (rise/fall max) -> x.A -200-> x.F -300-> r[0].DI (setup 100)
#   a[1].Q -(clk-q 500)- net 100 -> x.B  (shorter into r[0])
#   a[1].Q -(clk-q 500)- net 600 -> r[1].DI (setup 100)                        = 1200
#   y.A (undriven) -200-> y.F -250-> s[2].M (setup 50)                         = 500
#   $PACKER_VCC.F -2000-> s[2].M: a constant, not timed
# The clock net's delay to the CLK pins (1000) and the hold times (900) must not count.
SDF = r"""(DELAYFILE
  (SDFVERSION "3.0")
  (DESIGN "top")
  (DIVIDER /)
  (TIMESCALE 1ps)
  (CELL
    (CELLTYPE "top")
    (INSTANCE )
    (DELAY
      (ABSOLUTE
        (INTERCONNECT a_TRELLIS_FF_Q/Q x_LUT4_Z/A (100:150:200) (150:250:400))
        (INTERCONNECT a_TRELLIS_FF_Q_1/Q x_LUT4_Z/B (100:100:100) (100:100:100))
        (INTERCONNECT a_TRELLIS_FF_Q_1/Q r_TRELLIS_FF_Q_1/DI (600:600:600) (600:600:600))
        (INTERCONNECT x_LUT4_Z/F r_TRELLIS_FF_Q/DI (300:300:300) (300:300:300))
        (INTERCONNECT y_LUT4_Z/F s\[2\]_TRELLIS_FF_Q/M (250:250:250) (250:250:250))
        (INTERCONNECT \$PACKER_VCC/F s\[2\]_TRELLIS_FF_Q/M (2000:2000:2000) (2000:2000:2000))
        (INTERCONNECT clkbuf/Z a_TRELLIS_FF_Q/CLK (1000:1000:1000) (1000:1000:1000))
        (INTERCONNECT clkbuf/Z a_TRELLIS_FF_Q_1/CLK (1000:1000:1000) (1000:1000:1000))
      )
    )
  )
  (CELL
    (CELLTYPE "TRELLIS_COMB")
    (INSTANCE \$PACKER_VCC)
  )
  (CELL
    (CELLTYPE "TRELLIS_FF")
    (INSTANCE a_TRELLIS_FF_Q)
    (DELAY
      (ABSOLUTE
        (IOPATH CLK Q (400:450:500) (400:450:500))
      )
    )
  )
  (CELL
    (CELLTYPE "TRELLIS_FF")
    (INSTANCE a_TRELLIS_FF_Q_1)
    (DELAY
      (ABSOLUTE
        (IOPATH CLK Q (400:450:500) (400:450:500))
      )
    )
  )
  (CELL
    (CELLTYPE "TRELLIS_COMB")
    (INSTANCE x_LUT4_Z)
    (DELAY
      (ABSOLUTE
        (IOPATH A F (200:200:200) (200:200:200))
        (IOPATH B F (200:200:200) (200:200:200))
      )
    )
  )
  (CELL
    (CELLTYPE "TRELLIS_COMB")
    (INSTANCE y_LUT4_Z)
    (DELAY
      (ABSOLUTE
        (IOPATH A F (200:200:200) (200:200:200))
      )
    )
  )
  (CELL
    (CELLTYPE "TRELLIS_FF")
    (INSTANCE r_TRELLIS_FF_Q)
    (TIMINGCHECK
      (SETUPHOLD (posedge DI) (posedge CLK) (100:100:100) (900:900:900))
      (SETUPHOLD (negedge DI) (posedge CLK) (100:100:100) (900:900:900))
    )
  )
  (CELL
    (CELLTYPE "TRELLIS_FF")
    (INSTANCE r_TRELLIS_FF_Q_1)
    (TIMINGCHECK
      (SETUPHOLD (posedge DI) (posedge CLK) (100:100:100) (900:900:900))
    )
  )
  (CELL
    (CELLTYPE "TRELLIS_FF")
    (INSTANCE s\[2\]_TRELLIS_FF_Q)
    (TIMINGCHECK
      (SETUPHOLD (posedge M) (posedge CLK) (50:50:50) (900:900:900))
    )
  )
)
"""


@pytest.fixture(name="sdf_file")
def sdf_file_fixture(tmp_path):
    path = tmp_path / "design.sdf"
    path.write_text(SDF)
    return path


def test_worst_path_delay_slack_and_pins(sdf_file):
    worst = sta.worst_paths(sdf_file, period_ns=1.2, n=1)[0]
    assert worst["delay_ns"] == pytest.approx(1.5)
    assert worst["slack_ns"] == pytest.approx(-0.3)
    assert (worst["start"], worst["end"]) == ("a_TRELLIS_FF_Q.Q", "r_TRELLIS_FF_Q.DI")
    assert [(pin, round(at, 6), kind) for pin, at, kind in worst["path"]] == [
        ("a_TRELLIS_FF_Q.Q", 0.5, "cell"), ("x_LUT4_Z.A", 0.9, "net"),
        ("x_LUT4_Z.F", 1.1, "cell"), ("r_TRELLIS_FF_Q.DI", 1.4, "net"),
        ("r_TRELLIS_FF_Q.DI", 1.5, "setup")]


def test_one_path_per_start_and_end_bus(sdf_file):
    graph = sta.read_sdf(sdf_file)
    by_bus = sta.worst_paths(graph, 1.2)
    assert [(p["start"], p["end"]) for p in by_bus] == [
        ("a_TRELLIS_FF_Q.Q", "r_TRELLIS_FF_Q.DI"),        # r[1] (1.2 ns) shares a -> r
        ("y_LUT4_Z.A", "s[2]_TRELLIS_FF_Q.M")]            # from the undriven input
    assert by_bus[1]["delay_ns"] == pytest.approx(0.5)   # the constant's 2 ns is not timed
    every = sta.worst_paths(graph, 1.2, distinct_by="endpoint")
    assert [round(p["delay_ns"], 6) for p in every] == [1.5, 1.2, 0.5]
    registers_only = sta.worst_paths(graph, 1.2, distinct_by="endpoint", from_inputs=False)
    assert [p["end"] for p in registers_only] == ["r_TRELLIS_FF_Q.DI", "r_TRELLIS_FF_Q_1.DI"]
    # $PACKER_VCC, and the clock driver no CELL describes
    assert sta.undriven_outputs(graph) == {"TRELLIS_COMB": 1, "?": 1}


@pytest.mark.parametrize(("instance", "bus"), [
    ("p_TRELLIS_FF_Q_7", "p"), ("inner.a_TRELLIS_FF_Q_1", "inner.a"),
    (r"acc\[3\]_CCU2C_S0\$CCU2_COMB1", "acc"), ("count12", "count"),
    (r"\\\$85_TRELLIS_FF_Q", "$85"), ("fine_e_254_TRELLIS_FF_Q", "fine_e"),
    (r"\\\$signal\$152_TRELLIS_FF_Q_1", "$signal$152"),
    (r"burst_addrs.storage.0.4\$DPRAM_COMB3", "burst_addrs.storage")])
def test_group_name_strips_cell_suffixes_and_bit_indices(instance, bus):
    assert sta.group_name(instance) == bus


def test_report_collapses_carry_chains(sdf_file, capsys):
    chain = {"slack_ns": 1.0, "delay_ns": 1.0, "start": "c.Q", "end": "d.DI", "path": [
        ("c.Q", 0.5, "cell"), ("k0.FCI", 0.5, "net"), ("k0.FCO", 0.56, "cell"),
        ("k1.FCI", 0.56, "net"), ("k1.FCO", 0.62, "cell"), ("d.DI", 1.0, "net"),
        ("d.DI", 1.0, "setup")]}
    text = sta.format_path(chain, rank=1)
    assert "...chain of 4 steps to k1.FCO" in text and "+0.120" in text
    assert len(text.splitlines()) == 1 + 4
    assert sta.main([str(sdf_file), "--period", "1.2", "-n", "5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("#1 slack -0.300 ns  delay 1.500 ns  a_TRELLIS_FF_Q.Q -> ")
    assert out.count("slack") == 2


def test_agrees_with_nextpnr_on_the_multiplier(tmp_path):
    # Registered E2M1 multiplier through hw.synth's own Yosys and nextpnr run (a few seconds),
    # which keeps the routed design's SDF and lists its worst paths.
    name = "e2m1_multiplier"
    r = synth.synth_block(name, registered=True, workdir=tmp_path, pnr=True, paths=3)
    crit = synth.parse_critical_path((tmp_path / "nextpnr.log").read_text())
    worst = sta.worst_paths(tmp_path / f"{name}.sdf", 8.0, n=1, from_inputs=False)[0]
    assert worst["delay_ns"] == pytest.approx(crit["crit_ns"], abs=0.2)
    assert worst["slack_ns"] == pytest.approx(8.0 - worst["delay_ns"])
    assert r["worst_paths"][0]["delay_ns"] == pytest.approx(worst["delay_ns"], abs=1e-3)
    slacks = [p["slack_ns"] for p in r["worst_paths"]]
    assert 1 <= len(slacks) <= 3 and slacks == sorted(slacks)
    assert (tmp_path / "paths.txt").read_text().startswith("#1 slack")
