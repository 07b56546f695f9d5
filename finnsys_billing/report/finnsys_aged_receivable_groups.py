from odoo import api, models
from odoo.fields import Domain
from odoo.tools import SQL

# What a row per customer contact, company, currency and bucket holds whole.
PER_BUCKET_FIELDS = {
    "partner_id",
    "company_id",
    "company_currency_id",
    "currency_id",
    "billing_mode",
    "user_id",
    "bucket",
}
PER_BUCKET_AGGREGATES = {
    "__count",
    "item_count:sum",
    "residual:sum",
    "residual:sum_currency",
    "residual_currency:sum",
    "residual_currency:sum_currency",
    "company_currency_id:array_agg_distinct",
    "currency_id:array_agg_distinct",
    "share:sum",
    "days_overdue:max",
}


# Context keys that make a partner's display name more than its complete name.
PARTNER_NAME_FLAGS = (
    "formatted_display_name",
    "partner_show_db_id",
    "show_email",
    "show_address",
    "show_vat",
    "partner_display_name_hide_company",
)


class FinnsysAgedReceivableGroups(models.AbstractModel):
    """The grouped reads of the aged receivables' screens (pivot, graph, list groups):
    per bucket when the result is the same (:meth:`_per_bucket`), each group's *share*
    summed in the same query, and the groups formatted for the web client once per
    customer and bucket."""

    _name = "finnsys.aged.receivable.groups"
    _description = "Aged receivables grouped reads"

    @api.model
    def _per_bucket(self, domain, groupings, aggregates):
        """This model read per bucket (:meth:`_bucket_rows_sql`) if the result is the same:
        groups, filters and measures on fields that one bucket row holds whole (an open
        item's amount has the sign of its bucket: credit < 0, aged > 0)."""
        if self.env.context.get("finnsys_aging_per_bucket"):
            return self
        conditions = list(Domain(domain).iter_conditions())
        exact = all(
            condition.field_expr.split(".")[0] in PER_BUCKET_FIELDS
            or (condition.field_expr == "residual" and condition.value == 0)
            for condition in conditions
        ) and all(
            spec.split(":")[0] in PER_BUCKET_FIELDS and ":" not in spec
            for groupby in groupings
            for spec in groupby
        )
        if not exact or not set(aggregates) <= PER_BUCKET_AGGREGATES:
            return self
        fields = {condition.field_expr.split(".")[0] for condition in conditions}
        fields.update(spec.split(".")[0] for groupby in groupings for spec in groupby)
        fields.update(spec.split(":")[0] for spec in aggregates)
        return self.with_context(finnsys_aging_per_bucket=tuple(sorted(fields)))

    @api.model
    def _read_group(
        self, domain, groupby=(), aggregates=(), having=(), offset=0, limit=None, order=None
    ):
        per_bucket = self._per_bucket(domain, [groupby], aggregates)
        if per_bucket is not self:
            return per_bucket._read_group(domain, groupby, aggregates, having, offset, limit, order)
        with self._query_settings():
            rows = super()._read_group(domain, groupby, aggregates, having, offset, limit, order)
            shares = self._share_columns(aggregates)
            if not shares or not rows:
                return rows
            if having or offset or limit:  # some groups only: the gross needs all of them
                gross = self._gross_owed(
                    super()._read_group(domain, (), [aggregates[shares[0]]]), 0
                )
            else:
                gross = self._gross_owed(rows, len(groupby) + shares[0])
        return self._owed_to_shares(rows, len(groupby), shares, gross)

    @api.model
    def _read_grouping_sets(self, domain, grouping_sets, aggregates=(), order=None):
        per_bucket = self._per_bucket(domain, grouping_sets, aggregates)
        if per_bucket is not self:
            return per_bucket._read_grouping_sets(domain, grouping_sets, aggregates, order)
        with self._query_settings():
            results = super()._read_grouping_sets(domain, grouping_sets, aggregates, order)
        shares = self._share_columns(aggregates)
        if not shares or not results[0]:
            return results
        # Every grouping set covers all the items shown: the first one gives the gross.
        gross = self._gross_owed(results[0], len(grouping_sets[0]) + shares[0])
        return [
            self._owed_to_shares(rows, len(groupby), shares, gross)
            for groupby, rows in zip(grouping_sets, results, strict=True)
        ]

    @api.model
    def _read_group_select(self, aggregate_spec, query):
        """A group's item count, its company currencies and its *share*. The share is
        computed from its amounts owed per company currency, summed here in the same query as
        the other measures (no second pass over the items, no window), and turned into
        percent of the gross owed by :meth:`_owed_to_shares`."""
        if aggregate_spec == "__count":  # items, also when read per bucket
            return SQL("SUM(%s)", self._field_to_sql(self._table, "item_count", query))
        if aggregate_spec == "company_currency_id:array_agg_distinct":
            # What the web client asks to show a monetary measure. With one company currency
            # every group has just it: no sort of each group's currencies.
            currencies = self._share_currencies()
            if len(currencies) == 1:
                return SQL("ARRAY[%s]", currencies[0])
        if aggregate_spec.split(":")[0] != "share":
            return super()._read_group_select(aggregate_spec, query)
        residual = self._field_to_sql(self._table, "residual", query)
        currency = self._field_to_sql(self._table, "company_currency_id", query)
        return SQL(
            "ARRAY[%s]",
            SQL(", ").join(
                SQL(
                    "COALESCE(SUM(%s) FILTER (WHERE %s > 0 AND %s = %s), 0)",
                    residual,
                    residual,
                    currency,
                    currency_id,
                )
                for currency_id in self._share_currencies()
            ),
        )

    @api.model
    def _share_currencies(self):
        options = self._aging_options(self.env.context.get("finnsys_aging"), check=False)
        return self.env["res.company"].browse(options["company_ids"]).currency_id.sorted("id").ids

    @api.model
    def _share_columns(self, aggregates):
        return [index for index, spec in enumerate(aggregates) if spec.split(":")[0] == "share"]

    @api.model
    def _gross_owed(self, rows, column):
        """Per company currency, the amounts owed summed over ``rows``, groups that together
        hold every item shown."""
        return [sum(map(float, owed)) for owed in zip(*(row[column] for row in rows), strict=True)]

    @api.model
    def _owed_to_shares(self, rows, start, shares, gross):
        """``rows`` with each share column, amounts owed per currency, as the percent of the
        gross owed: the groups of one grouping make 100 % per currency."""
        factors = [100.0 / total if total else 0.0 for total in gross]
        single = len(factors) == 1
        result = []
        for row in rows:
            row = list(row)
            for column in (start + index for index in shares):
                owed = row[column]
                row[column] = (
                    float(owed[0]) * factors[0]
                    if single
                    else sum(
                        float(amount) * factor for amount, factor in zip(owed, factors, strict=True)
                    )
                )
            result.append(tuple(row))
        return result

    @api.model
    def _web_read_group_format(self, groupby, aggregates, groups):
        """The groups as the web client wants them, as core formats them, without formatting
        one value twice: the pivot's thousands of cells (customer x bucket) name a few
        thousand customers and a few buckets. Each group's domain is the ``AND`` of one
        condition per grouped field, written out as core's ``Domain.AND`` writes it; groupings
        of any other kind (a date granularity, a related path) are left to core."""
        if (
            not groups
            or any(":" in spec or "." in spec for spec in groupby)
            or self._web_read_group_field_expand(groupby)
        ):
            return super()._web_read_group_format(groupby, aggregates, groups)
        columns = list(zip(*groups, strict=True))
        formatted = []
        for spec, values in zip(groupby, columns, strict=False):
            formatter, cache, column = self._group_formatter(spec, values), {}, []
            for value in values:
                key = value._ids if isinstance(value, models.BaseModel) else value
                if key not in cache:
                    label, domain = formatter(value)
                    if len(domain) != 1:
                        return super()._web_read_group_format(groupby, aggregates, groups)
                    cache[key] = (label, domain[0])
                column.append(cache[key])
            formatted.append(column)
        if not groupby:
            domains = [[(1, "=", 1)] for _group in groups]
        elif len(groupby) == 1:
            domains = [[domain] for _label, domain in formatted[0]]
        else:
            conjunction = ["&"] * (len(groupby) - 1)
            domains = [
                [*conjunction, *(domain for _label, domain in cells)]
                for cells in zip(*formatted, strict=True)
            ]
        labels = [[label for label, _domain in column] for column in formatted]
        keys = (*groupby, "__extra_domain", *aggregates)
        return [
            dict(zip(keys, values, strict=True))
            for values in zip(*labels, domains, *columns[len(groupby) :], strict=True)
        ]

    @api.model
    def _group_formatter(self, spec, values):
        """Core's formatter of the groups' values, but a customer is named by the
        ``complete_name`` the printout prints, all read in one query, rather than by a
        display name computed customer by customer: the same text, unless the context asks
        for more (an address, an e-mail, a VAT number), which core's formatter then gives."""
        field = self._fields[spec]
        if field.comodel_name != "res.partner" or any(
            self.env.context.get(flag) for flag in PARTNER_NAME_FLAGS
        ):
            return self._web_read_group_groupby_formatter(spec, values)
        Partner = self.env["res.partner"]
        names = dict(
            self.env.execute_query(
                SQL(
                    "SELECT id, complete_name FROM res_partner WHERE id = ANY(%s)",
                    list({value.id for value in values if value}),
                    to_flush=Partner._fields["complete_name"],
                )
            )
        )

        def formatter(value):
            if not value:
                return False, [(spec, "=", False)]
            return (value.id, names[value.id] or ""), [(spec, "=", value.id)]

        return formatter
