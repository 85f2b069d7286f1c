"""Reads an xlsx file with openpyxl, a reader independent of libxlsxwriter, and prints what the
tests check as JSON: per sheet its cells (type, value, number format), the formulas with the
values cached for readers that do not recalculate, frozen panes, autofilter and column widths;
and the charts found in the file (openpyxl does not load charts, so they are read from the
package's XML)."""
import json
import re
import sys
import zipfile

import openpyxl


def cell_json(cell, cached):
    if cell.value is None:
        return None
    if cell.data_type == "f":
        return {"type": "formula", "formula": cell.value, "cached": cached, "format": cell.number_format}
    if cell.is_date:
        return {"type": "date", "value": cell.value.isoformat(), "format": cell.number_format}
    if cell.data_type == "n":
        return {"type": "number", "value": cell.value, "format": cell.number_format}
    return {"type": "text", "value": str(cell.value)}


def main(path):
    formulas = openpyxl.load_workbook(path)
    values = openpyxl.load_workbook(path, data_only=True)
    sheets = []
    for sheet in formulas.worksheets:
        cached_sheet = values[sheet.title]
        rows = []
        for row, cached_row in zip(sheet.iter_rows(), cached_sheet.iter_rows()):
            rows.append([cell_json(cell, cached.value) for cell, cached in zip(row, cached_row)])
        sheets.append({
            "name": sheet.title,
            "freeze": sheet.freeze_panes,
            "filter": sheet.auto_filter.ref,
            "widths": {key: dimension.width for key, dimension in sheet.column_dimensions.items() if dimension.width},
            "rows": rows,
        })
    charts = []
    with zipfile.ZipFile(path) as package:
        for name in sorted(package.namelist()):
            if re.match(r"xl/charts/chart\d+\.xml$", name):
                xml = package.read(name).decode("utf-8")
                charts.append({
                    "part": name,
                    "kinds": re.findall(r"<c:(barChart|lineChart|areaChart)>", xml),
                    "references": re.findall(r"<c:f>([^<]*)</c:f>", xml),
                })
        drawings = [name for name in package.namelist() if name.startswith("xl/drawings/_rels/")]
    print(json.dumps({"sheets": sheets, "charts": charts, "drawings": drawings}))


if __name__ == "__main__":
    main(sys.argv[1])
