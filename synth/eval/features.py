"""Model-ready views of a table for evaluation: numeric and categorical feature columns.

Datetimes become days since 1970; id and pii columns are dropped. Used by detection, TSTR and
the privacy-risk distances, so every figure sees the same features.
"""

from __future__ import annotations

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from synth.schema.columns import Schema
from synth.schema.validate import category_key
from synth.schema.timestamps import epoch_seconds
from synth.schema.sdtypes import is_categorical, is_datetime, is_numeric

__all__ = ["feature_columns", "model_frame", "preprocessor", "category_strings"]


def feature_columns(schema: Schema, exclude: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """(numeric, categorical) columns that models may use."""
    num = [c.name for c in schema if is_numeric(c.sdtype) and c.name not in exclude]
    cat = [c.name for c in schema if is_categorical(c.sdtype) and c.name not in exclude]
    return num, cat


def category_strings(s: pd.Series) -> pd.Series:
    """Categories as canonical strings: 1, 1.0 and "1" are one category ("1"); missing is "nan".

    A real CSV column with gaps reads as floats (1.0) where synthetic data holds integers (1):
    plain ``astype(str)`` would make them different categories.
    """
    return s.map(category_key).astype(str)


def model_frame(df: pd.DataFrame, schema: Schema, exclude: tuple[str, ...] = ()) -> pd.DataFrame:
    """Numeric columns as floats (datetimes in days), categorical ones as strings ("nan" = missing)."""
    num, cat = feature_columns(schema, exclude)
    out = {}
    for c in num:
        if is_datetime(schema[c].sdtype):
            t = pd.to_datetime(df[c], format=schema[c].datetime_format, errors="coerce")
            out[c] = pd.Series(epoch_seconds(t) / 86400, index=df.index)
        else:
            out[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    for c in cat:
        out[c] = category_strings(df[c])
    return pd.DataFrame(out, index=df.index)


def preprocessor(schema: Schema, exclude: tuple[str, ...] = ()) -> ColumnTransformer:
    """Median-impute and scale numbers; one-hot categories (unknown ones ignored). Always dense:
    gradient boosting refuses the sparse matrix a table of many categories would otherwise give."""
    num, cat = feature_columns(schema, exclude)
    return ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()), num),
        ("cat", OneHotEncoder(handle_unknown="ignore"), cat),
    ], sparse_threshold=0.0)
