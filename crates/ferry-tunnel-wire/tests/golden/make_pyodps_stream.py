"""Writes pyodps-all-types.bin with pyodps' own record writer (the C implementation, its default).

    python -m venv v && v/bin/pip install pyodps==0.13.2 pandas
    TZ=UTC v/bin/python make_pyodps_stream.py

The Rust test tests/pyodps_stream.rs decodes the file and checks every value and checksum."""
import io, datetime, decimal
from odps.models import TableSchema, Column, Record
from odps.tunnel.io.writer import BaseRecordWriter
from odps import options
schema = TableSchema.from_lists(
    ["c_bigint", "c_int", "c_double", "c_float", "c_bool", "c_string", "c_binary", "c_datetime", "c_date", "c_decimal", "c_timestamp"],
    ["bigint", "int", "double", "float", "boolean", "string", "binary", "datetime", "date", "decimal(10,2)", "timestamp"])
out = io.BytesIO()
w = BaseRecordWriter(schema, out)
import pandas as pd
rows = [
  [-42, 7, 1.5, -2.25, True, "héllo", b"\x00\xff\x01", datetime.datetime(2023, 11, 14, 22, 13, 20, 123000), datetime.date(2023, 12, 8), decimal.Decimal("12.34"), pd.Timestamp("2023-11-14 22:13:20.123456789")],
  [None]*11,
  [-(2**63), None, 1e308, None, False, "", None, datetime.datetime(1969, 12, 31, 23, 59, 59, 999000), None, decimal.Decimal("-0.01"), pd.Timestamp("1969-12-31 23:59:55")],
]
for r in rows:
    rec = Record(schema=schema, values=r)
    w.write(rec)
w.close()
data = out.getvalue()
open("pyodps-all-types.bin", "wb").write(data)
print(len(data), data[:40].hex())
