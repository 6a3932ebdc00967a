"""The Jane Austen novels of Debian's r-cran-janeaustenr, read without R.

The package ships its data as an R lazy-load database: ``Rdata.rdx`` (a gzip'd serialized
index: variable name -> (offset, length) in ``Rdata.rdb``) and ``Rdata.rdb`` (each object a
4-byte big-endian length followed by a zlib stream of R serialization). ``rdata`` parses
the serialized objects; each novel is a character vector of lines.
"""

from __future__ import annotations

import glob
import gzip
import shutil
import subprocess
import zlib
from pathlib import Path

DEB = "r-cran-janeaustenr"
DATA_DIR = "usr/lib/R/site-library/janeaustenr/data"
NOVELS = ("sensesensibility", "prideprejudice", "mansfieldpark", "emma", "northangerabbey",
          "persuasion")


def fetch_deb(workdir: Path) -> Path:
    """Download and unpack the Debian package into ``workdir`` (cached); return the
    directory holding Rdata.rdx/rdb.

    Raises
    ------
    RuntimeError
        If apt-get or dpkg-deb is unavailable or the download fails.
    """
    workdir = Path(workdir)
    out = workdir / "root" / DATA_DIR
    if (out / "Rdata.rdx").exists():
        return out
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise RuntimeError(
                f"`{tool}` not found: `make eval` needs a Debian/Ubuntu system to fetch the "
                f"{DEB} package (or unpack it by hand into {workdir / 'root'})")
    workdir.mkdir(parents=True, exist_ok=True)
    debs = glob.glob(str(workdir / f"{DEB}_*.deb"))
    if not debs:
        r = subprocess.run(["apt-get", "download", DEB], check=False, cwd=workdir, capture_output=True,
                           text=True)
        if r.returncode:
            upd = subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True,
                                 text=True)
            r = subprocess.run(["apt-get", "download", DEB], check=False, cwd=workdir, capture_output=True,
                               text=True)
            if r.returncode:
                raise RuntimeError(f"apt-get download {DEB} failed: {r.stderr.strip()} "
                                   f"{upd.stderr.strip()}")
        debs = glob.glob(str(workdir / f"{DEB}_*.deb"))
    subprocess.run(["dpkg-deb", "-x", debs[0], str(workdir / "root")], check=True)
    return out


def _parse(blob: bytes):
    import rdata

    return rdata.conversion.convert(rdata.parser.parse_data(blob, extension=".rds"))


def read_lazyload(data_dir: Path) -> dict[str, list[str]]:
    """All objects of an R lazy-load database (Rdata.rdx + Rdata.rdb) as Python values."""
    data_dir = Path(data_dir)
    index = _parse(gzip.decompress((data_dir / "Rdata.rdx").read_bytes()))
    rdb = (data_dir / "Rdata.rdb").read_bytes()
    out = {}
    for name, (off, length) in index["variables"].items():
        off, length = int(off), int(length)
        out[str(name)] = _parse(zlib.decompress(rdb[off + 4:off + length]))
    return out


def novels(workdir: Path) -> dict[str, str]:
    """Each novel's text (lines joined with newlines)."""
    objs = read_lazyload(fetch_deb(workdir))
    return {n: "\n".join(str(s) for s in objs[n]) for n in NOVELS if n in objs}
