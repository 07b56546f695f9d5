from operator import itemgetter

from odoo import api, models

from .finnsys_aged_receivable_query import CREDIT_BUCKET


class FinnsysAgedReceivablePrintout(models.AbstractModel):
    """What the PDF and the XLSX print: the open amounts per customer and bucket of
    :meth:`_aging_sql`, with totals per currency and the share of each bucket."""

    _name = "finnsys.aged.receivable.printout"
    _inherit = ["finnsys.aged.receivable.query"]
    _description = "Aged receivables printout"

    @api.model
    def _aging_report(self, values=None):
        """Rows per customer (and company, and invoice currency if asked) with an amount per
        bucket, plus totals per currency and the share of each bucket: what the PDF and the
        XLSX print. A fixed number of queries whatever the number of customers and items."""
        options = self._aging_options(values)
        keys = self._bucket_keys(options)
        self.env.flush_all()
        with self._query_settings():
            self.env.cr.execute(self._aging_sql(options))
            results = self.env.cr.fetchall()
        grouped, names = {}, {}
        for partner_id, name, company_id, currency_id, *amounts in results:
            if any(amounts):  # not a group of items all settled at the date
                names[partner_id] = name
                grouped[(partner_id, company_id, currency_id)] = dict(
                    zip(keys, amounts, strict=True)
                )
        if options["show_zero"]:
            self._add_zero_customers(options, grouped, names)
        return self._report_values(options, grouped, names)

    @api.model
    def _add_zero_customers(self, options, grouped, names):
        domain = [("customer_rank", ">", 0), ("is_company", "=", True)]
        if options["partner_ids"]:
            domain.append(("id", "in", options["partner_ids"]))
        if options["billing_mode"]:
            domain.append(("billing_mode", "=", options["billing_mode"]))
        if options["user_id"]:
            domain.append(("user_id", "=", options["user_id"]))
        seen = {(partner_id, company_id) for partner_id, company_id, _cur in grouped}
        companies = self.env["res.company"].browse(options["company_ids"])
        for partner in self.env["res.partner"].search(domain):
            for company in companies:
                shared = not partner.company_id or partner.company_id == company
                if shared and (partner.id, company.id) not in seen:
                    grouped[(partner.id, company.id, company.currency_id.id)] = {}
                    names[partner.id] = partner.display_name

    @api.model
    def _report_values(self, options, grouped, names):
        """Report rows from the grouped amounts, which the query rounded with the currency:
        a row total only needs the float noise of the addition removed. Fields are read once
        per currency and company, not once per row (thousands of customers)."""
        buckets = self._bucket_labels(options)
        keys = [key for key, _label in buckets]
        companies = self.env["res.company"].browse({key[1] for key in grouped})
        currencies = {
            currency.id: (currency, currency.decimal_places, currency.name)
            for currency in self.env["res.currency"].browse({key[2] for key in grouped})
        }
        rows, totals = [], {}
        for (partner_id, company_id, currency_id), amounts in grouped.items():
            currency, digits, currency_name = currencies[currency_id]
            row_amounts = {key: amounts.get(key) or 0.0 for key in keys}
            if not options["show_zero"] and not any(row_amounts.values()):
                continue
            name = names.get(partner_id) or self.env._("Without customer")
            row = {
                "partner_id": partner_id,
                "partner_name": name,
                "company": companies.browse(company_id),
                "currency": currency,
                "amounts": row_amounts,
                "total": round(sum(row_amounts.values()), digits),
            }
            rows.append(((name, company_id, currency_name), row))
            total = totals.setdefault(
                currency_id, {"currency": currency, "amounts": dict.fromkeys(keys, 0.0)}
            )
            for key, value in row_amounts.items():
                total["amounts"][key] += value
        rows = [row for _key, row in sorted(rows, key=itemgetter(0))]
        for total in totals.values():
            total["total"] = sum(total["amounts"].values())
            total["percent"] = self._bucket_shares(total["amounts"])
        return {
            "options": options,
            "buckets": buckets,
            "rows": rows,
            "totals": sorted(totals.values(), key=lambda t: t["currency"].name),
        }

    @api.model
    def _bucket_shares(self, amounts):
        """Each aged bucket's share of the gross receivable (what is owed, unapplied credit
        left out), in percent: they make 100 % whatever the credit, which has no share."""
        gross = sum(value for key, value in amounts.items() if key != CREDIT_BUCKET)
        return {
            key: value * 100.0 / gross if gross else 0.0
            for key, value in amounts.items()
            if key != CREDIT_BUCKET
        }
