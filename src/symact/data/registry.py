"""The dataset registry: one declarative entry per named dataset, and where files live.

Each :class:`DatasetInfo` says everything the loaders need to know about a dataset (canonical
file name, UCI path and static-archive fallback, known sha256, file layout, label rule, how
the paper selects rows), so adding a dataset is one entry and no loader branches on names.
This module also resolves the data folder (``data_dir`` argument > ``SYMACT_DATA_DIR`` >
the per-user cache folder) and the download locations:

* ``SYMACT_UCI_MIRROR`` replaces the UCI base URL
  ``https://archive.ics.uci.edu/ml/machine-learning-databases/``; files are looked up at the
  same relative paths below it (``00280/HIGGS.csv.gz``, ``covtype/covtype.data.gz``,
  ``spambase/spambase.data``).
* When a classic path answers 404, the loaders fall back to UCI's zip archive
  ``static/public/<id>/<name>.zip``. Its base is ``SYMACT_UCI_STATIC_MIRROR`` if set, else it
  is computed from the classic base as ``urljoin(base, "../../static/public/")``: for the
  real UCI base (and for a mirror that copies UCI's layout, ``<root>/ml/machine-learning-
  databases/``) that is ``<root>/static/public/``.
* ``SYMACT_NET_TIMEOUT`` (seconds, default 30) bounds connecting and each read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import platformdirs

from symact.data.errors import DataError

UCI_BASE_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/"
DEFAULT_TIMEOUT_S = 30.0

HIGGS_FEATURES = (
    "lepton_pT",
    "lepton_eta",
    "lepton_phi",
    "missing_energy_magnitude",
    "missing_energy_phi",
    *(f"jet{j}_{q}" for j in range(1, 5) for q in ("pt", "eta", "phi", "b-tag")),
    "m_jj",
    "m_jjj",
    "m_lv",
    "m_jlv",
    "m_bb",
    "m_wbb",
    "m_wwbb",
)

COVTYPE_FEATURES = (
    "Elevation",
    "Aspect",
    "Slope",
    "Horizontal_Distance_To_Hydrology",
    "Vertical_Distance_To_Hydrology",
    "Horizontal_Distance_To_Roadways",
    "Hillshade_9am",
    "Hillshade_Noon",
    "Hillshade_3pm",
    "Horizontal_Distance_To_Fire_Points",
    *(f"Wilderness_Area{i}" for i in range(1, 5)),
    *(f"Soil_Type{i}" for i in range(1, 41)),
)

_SPAM_WORDS = [
    "make",
    "address",
    "all",
    "3d",
    "our",
    "over",
    "remove",
    "internet",
    "order",
    "mail",
    "receive",
    "will",
    "people",
    "report",
    "addresses",
    "free",
    "business",
    "email",
    "you",
    "credit",
    "your",
    "font",
    "000",
    "money",
    "hp",
    "hpl",
    "george",
    "650",
    "lab",
    "labs",
    "telnet",
    "857",
    "data",
    "415",
    "85",
    "technology",
    "1999",
    "parts",
    "pm",
    "direct",
    "cs",
    "meeting",
    "original",
    "project",
    "re",
    "edu",
    "table",
    "conference",
]
SPAMBASE_FEATURES = (
    *(f"word_freq_{w}" for w in _SPAM_WORDS),
    *(f"char_freq_{c}" for c in ";([!$#"),
    "capital_run_length_average",
    "capital_run_length_longest",
    "capital_run_length_total",
)


@dataclass(frozen=True)
class DatasetInfo:
    """What the loaders need to know about one named dataset.

    ``selection`` is how rows are chosen when fewer than all are requested: ``"first"``
    (a prefix, as the paper does for HIGGS) or ``"random"`` (a seeded subset without
    replacement, as the paper does for covertype). ``label_column`` indexes the raw file's
    columns; ``positive_value`` is the raw label value that becomes 1. ``class_names`` names
    the binary task's classes 0 and 1; with ``labels="all"`` the classes are instead the
    raw label values (``valid_labels``) or sklearn's ``target_names``.
    ``full_rows`` and ``sha256`` describe the full UCI file: a file with exactly
    ``full_rows`` rows claims to be that file and must have that sha256.
    """

    name: str
    display_name: str
    domain: str
    label_rule: str
    feature_names: tuple[str, ...]
    class_names: tuple[str, str] = ("0", "1")
    selection: str = "random"
    default_rows: int | None = None
    full_rows: int | None = None
    # UCI file datasets
    filename: str | None = None
    uci_id: int | None = None
    uci_path: str | None = None
    static_zip: str | None = None
    sha256: str | None = None
    label_column: int = -1
    positive_value: float = 1.0
    valid_labels: tuple[float, ...] = (0.0, 1.0)
    # scikit-learn bundled datasets
    sklearn_loader: str | None = None
    sklearn_positive: tuple[int, ...] = ()
    sklearn_features: int = 0  # feature count, for listing without loading

    @property
    def is_builtin(self) -> bool:
        """True for datasets shipped inside scikit-learn (never downloaded)."""
        return self.sklearn_loader is not None

    @property
    def n_features(self) -> int:
        return len(self.feature_names) or self.sklearn_features

    @property
    def n_columns(self) -> int:
        """Columns in the raw file: the features plus the label."""
        return self.n_features + 1


REGISTRY: dict[str, DatasetInfo] = {
    "higgs": DatasetInfo(
        name="higgs",
        display_name="HIGGS",
        domain="physics",
        label_rule="column 0 of HIGGS.csv: 1 = signal (Higgs boson process), 0 = background",
        feature_names=HIGGS_FEATURES,
        class_names=("background", "signal"),
        selection="first",
        default_rows=100_000,
        full_rows=11_000_000,
        filename="HIGGS.csv.gz",
        uci_id=280,
        uci_path="00280/HIGGS.csv.gz",
        static_zip="higgs.zip",
        label_column=0,
    ),
    "covertype": DatasetInfo(
        name="covertype",
        display_name="FOREST_COVER",
        domain="ecology",
        label_rule="Cover_Type == 2 (UCI code 2 = Lodgepole Pine) -> 1, other six types -> 0",
        feature_names=COVTYPE_FEATURES,
        class_names=("other cover type", "Lodgepole Pine"),
        selection="random",
        default_rows=100_000,
        full_rows=581_012,
        filename="covtype.data.gz",
        uci_id=31,
        uci_path="covtype/covtype.data.gz",
        static_zip="covertype.zip",
        label_column=-1,
        positive_value=2.0,
        valid_labels=(1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0),
    ),
    "spambase": DatasetInfo(
        name="spambase",
        display_name="SPAMBASE",
        domain="text",
        label_rule="last column: 1 = spam, 0 = not spam",
        feature_names=SPAMBASE_FEATURES,
        class_names=("not spam", "spam"),
        selection="random",
        full_rows=4_601,
        filename="spambase.data",
        uci_id=94,
        uci_path="spambase/spambase.data",
        static_zip="spambase.zip",
        sha256="b1ef93de71f97714d3d7d4f58fc9f718da7bbc8ac8a150eff2778616a8097b12",
        label_column=-1,
    ),
    "breast_cancer": DatasetInfo(
        name="breast_cancer",
        display_name="BREAST_CANCER",
        domain="medicine",
        label_rule="malignant -> 1, benign -> 0 (sklearn target 0 -> 1)",
        feature_names=(),  # taken from sklearn's bundled copy
        class_names=("benign", "malignant"),
        full_rows=569,
        sklearn_loader="load_breast_cancer",
        sklearn_features=30,
        sklearn_positive=(0,),
    ),
    "wine": DatasetInfo(
        name="wine",
        display_name="WINE",
        domain="chemistry",
        label_rule="cultivar class_0 -> 1, class_1 and class_2 -> 0 (sklearn target 0 -> 1)",
        feature_names=(),
        class_names=("class_1 or class_2", "class_0"),
        full_rows=178,
        sklearn_loader="load_wine",
        sklearn_features=13,
        sklearn_positive=(0,),
    ),
    "digits": DatasetInfo(
        name="digits",
        display_name="DIGITS",
        domain="vision",
        label_rule="digit >= 5 -> 1, digit <= 4 -> 0 (8x8 handwritten digits)",
        feature_names=(),
        class_names=("digit 0-4", "digit 5-9"),
        full_rows=1_797,
        sklearn_loader="load_digits",
        sklearn_features=64,
        sklearn_positive=(5, 6, 7, 8, 9),
    ),
}


def list_datasets() -> list[str]:
    """Registry names, in registry order."""
    return list(REGISTRY)


_ALIASES = {
    **{info.display_name.lower(): key for key, info in REGISTRY.items()},
    "covtype": "covertype",
    "spam": "spambase",
}


def resolve_name(text: str) -> str | None:
    """The registry key for a name or display name (any case), or None."""
    key = text.strip().lower().replace("-", "_")
    if key in REGISTRY:
        return key
    return _ALIASES.get(key)


def get_info(name: str) -> DatasetInfo:
    """The registry entry for ``name``; a DataError listing the known names otherwise."""
    key = resolve_name(name)
    if key is None:
        known = ", ".join(REGISTRY)
        raise DataError(
            f"unknown dataset {name!r}; known datasets: {known}, "
            "openml:ID for an OpenML dataset, or the path of a CSV or Parquet file"
        )
    return REGISTRY[key]


def data_home(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder datasets are read from and cached in (not created here).

    Precedence: the ``data_dir`` argument, then ``SYMACT_DATA_DIR``, then the per-user
    cache folder of platformdirs (e.g. ``~/.cache/symact`` on Linux).
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get("SYMACT_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("symact"))


def uci_base_url() -> str:
    """The classic UCI base URL, or the ``SYMACT_UCI_MIRROR`` that replaces it."""
    base = os.environ.get("SYMACT_UCI_MIRROR") or UCI_BASE_URL
    return base if base.endswith("/") else base + "/"


def uci_static_base_url() -> str:
    """Base of UCI's ``static/public/<id>/`` zip archives (see the module docstring)."""
    env = os.environ.get("SYMACT_UCI_STATIC_MIRROR")
    if env:
        return env if env.endswith("/") else env + "/"
    return urljoin(uci_base_url(), "../../static/public/")


def file_url(info: DatasetInfo) -> str:
    """Where the canonical file of ``info`` is downloaded from."""
    assert info.uci_path is not None
    return uci_base_url() + info.uci_path


def static_zip_url(info: DatasetInfo) -> str:
    """Where the fallback zip archive of ``info`` is downloaded from."""
    assert info.uci_id is not None and info.static_zip is not None
    return f"{uci_static_base_url()}{info.uci_id}/{info.static_zip}"


def net_timeout() -> float:
    """Seconds allowed for connecting and for each read (``SYMACT_NET_TIMEOUT``)."""
    raw = os.environ.get("SYMACT_NET_TIMEOUT")
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        raise DataError(f"SYMACT_NET_TIMEOUT={raw!r} is not a number of seconds") from None
    if value <= 0:
        raise DataError(f"SYMACT_NET_TIMEOUT={raw!r} must be positive")
    return value
