"""The workbook benchmark's Python peer: XlsxWriter in constant_memory mode writing the rows of
the reconciliation workbook's Invoices and Lines sheets (every invoice and line of the range,
the same columns, number formats, dates and totals formulas) read from the same database with
Python's sqlite3. The small sheets (Summary, Usage, Tax, ...) are left out: they are a few rows.

Usage: python xlsxwriter_peer.py DATABASE FROM_SECONDS TO_SECONDS OUT.xlsx
"""
import datetime
import sqlite3
import sys
from decimal import Decimal

import xlsxwriter

DECIMALS = {"JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0, "UGX": 0, "VND": 0, "XAF": 0, "XOF": 0,
            "BHD": 3, "JOD": 3, "KWD": 3, "OMR": 3, "TND": 3}
EPOCH = datetime.datetime(1970, 1, 1)


def main(database, start, end, out):
    db = sqlite3.connect(database)
    workbook = xlsxwriter.Workbook(out, {"constant_memory": True})
    bold = workbook.add_format({"bold": True})
    date = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    money_formats = {}

    def money(code):
        if code not in money_formats:
            decimals = DECIMALS.get(code, 2)
            pattern = "#,##0" + ("." + "0" * decimals if decimals else "") + f' "{code}"'
            money_formats[code] = workbook.add_format({"num_format": pattern})
        return money_formats[code]

    def when(seconds):
        return None if seconds is None else EPOCH + datetime.timedelta(seconds=seconds)

    def sheet(name, columns):
        worksheet = workbook.add_worksheet(name)
        for index, (title, width) in enumerate(columns):
            worksheet.set_column(index, index, width)
            worksheet.write_string(0, index, title, bold)
        worksheet.freeze_panes(1, 0)
        return worksheet

    def write_row(worksheet, row, cells):
        for column, (kind, value, code) in enumerate(cells):
            if value is None:
                continue
            if kind == "text":
                worksheet.write_string(row, column, value)
            elif kind == "date":
                worksheet.write_datetime(row, column, when(value), date)
            elif kind == "money":
                worksheet.write_number(row, column, float(Decimal(value)), money(code))
            else:
                worksheet.write_number(row, column, float(Decimal(value)))

    def totals(worksheet, rows, width, currency_column, status_column, money_columns, currencies):
        worksheet.autofilter(0, 0, rows, width - 1)
        for offset, code in enumerate(sorted(currencies)):
            row = rows + 2 + offset
            worksheet.write_string(row, 0, f"Total {code}", bold)
            worksheet.write_string(row, currency_column, code, bold)
            for column in money_columns:
                name = xlsxwriter.utility.xl_col_to_name(column)
                cur = xlsxwriter.utility.xl_col_to_name(currency_column)
                status = xlsxwriter.utility.xl_col_to_name(status_column)
                formula = (f'=SUMIFS(${name}$2:${name}${rows + 1},${cur}$2:${cur}${rows + 1},"{code}",'
                           f'${status}$2:${status}${rows + 1},"<>void")')
                worksheet.write_formula(row, column, formula, money(code))

    sheet("Summary", [("Currency", 10), ("Invoices", 10), ("Subtotal", 18), ("Tax", 16), ("Total", 18), ("Paid", 18),
                      ("Outstanding", 18), ("Not issued", 18), ("Failed", 16), ("Differences", 12)])
    invoices = sheet("Invoices", [("Invoice", 30), ("Customer", 20), ("Bill date", 17), ("Period start", 17), ("Period end", 17),
                                  ("Currency", 10), ("Status", 15), ("Subtotal", 16), ("Tax", 14), ("Total", 16),
                                  ("Stripe invoice", 24), ("Invoice number", 16), ("Stripe total", 16), ("Difference", 14),
                                  ("Paid at", 17), ("Failure", 40)])
    lines = sheet("Lines", [("Invoice", 30), ("Customer", 20), ("Bill date", 17), ("Currency", 10), ("Invoice status", 15),
                            ("Kind", 17), ("Plan", 14), ("Rate card", 18), ("Description", 36), ("Quantity", 14),
                            ("Unit price", 12), ("Tier detail", 40), ("Service start", 17), ("Service end", 17), ("Amount", 16),
                            ("Tax", 14), ("Tax behavior", 12)])

    row, currencies = 0, set()
    for (id, customer, billed, start_, end_, code, status, subtotal, tax, total, stripe_id, number, paid_at,
         failure_stage, failure_message) in db.execute(
            """SELECT id, customer_key, bill_date, period_start, period_end, currency, status, subtotal, tax, total,
                      stripe_invoice_id, number, paid_at, failure_stage, failure_message
               FROM invoices WHERE bill_date >= ? AND bill_date < ? ORDER BY bill_date, customer_key""", (start, end)):
        row += 1
        currencies.add(code)
        stripe_total = total if stripe_id else None
        difference = "0" if stripe_id else None
        failure = f"{failure_stage}: {failure_message}" if failure_stage else None
        write_row(invoices, row, [("text", id, None), ("text", customer, None), ("date", billed, None), ("date", start_, None),
                                  ("date", end_, None), ("text", code, None), ("text", status, None), ("money", subtotal, code),
                                  ("money", tax, code), ("money", total, code), ("text", stripe_id, None), ("text", number, None),
                                  ("money", stripe_total, code), ("money", difference, code), ("date", paid_at, None),
                                  ("text", failure, None)])
    totals(invoices, row, 16, 5, 6, [7, 8, 9, 12, 13], currencies)

    row, currencies = 0, set()
    for (invoice, status, customer, billed, code, kind, plan, card, description, start_, end_, quantity, amount, tax,
         behavior, detail) in db.execute(
            """SELECT l.invoice_id, i.status, i.customer_key, i.bill_date, i.currency, l.kind, s.plan_key, l.rate_card_key,
                      l.description, l.period_start, l.period_end, l.quantity, l.amount, l.tax_amount, l.tax_behavior, l.detail
               FROM invoices i JOIN invoice_lines l ON l.invoice_id = i.id LEFT JOIN subscriptions s ON s.id = l.subscription_id
               WHERE i.bill_date >= ? AND i.bill_date < ? ORDER BY i.bill_date, i.customer_key, l.position""", (start, end)):
        row += 1
        currencies.add(code)
        unit = None
        if quantity is not None and Decimal(quantity) != 0:
            unit = str(round(Decimal(amount) / Decimal(quantity), 6))
        write_row(lines, row, [("text", invoice, None), ("text", customer, None), ("date", billed, None), ("text", code, None),
                               ("text", status, None), ("text", kind, None), ("text", plan, None), ("text", card, None),
                               ("text", description, None), ("number", quantity, None), ("number", unit, None),
                               ("text", detail, None), ("date", start_, None), ("date", end_, None), ("money", amount, code),
                               ("money", tax, code), ("text", behavior, None)])
    totals(lines, row, 17, 3, 4, [14, 15], currencies)
    workbook.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
