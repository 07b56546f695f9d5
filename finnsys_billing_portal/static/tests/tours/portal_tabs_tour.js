import { registry } from "@web/core/registry";

function tab(name, count, statuses) {
    return [
        {
            content: `Open the ${name} tab`,
            trigger: `.o_billing_invoice_tabs a[data-tab=${name}]`,
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: `The ${name} tab counts ${count} and lists its documents`,
            trigger: `.o_billing_invoice_tabs a.active[data-tab=${name}] .o_billing_tab_count:contains(${count})`,
        },
        {
            content: `The ${name} tab lists ${count} documents`,
            trigger: `.o_billing_invoice_table tbody:has(tr:nth-child(${count})):not(:has(tr:nth-child(${count + 1})))`,
        },
        ...statuses.map((status) => ({
            content: `A document with status ${status}`,
            trigger: `.o_billing_invoice_table .o_billing_status:contains(${status})`,
        })),
    ];
}

registry.category("web_tour.tours").add("finnsys_portal_tabs_tour", {
    steps: () => [
        ...tab("open", 2, ["Open", "Partly paid"]),
        ...tab("progress", 1, ["In progress"]),
        ...tab("paid", 1, ["Paid"]),
        ...tab("all", 5, ["Open", "Partly paid", "In progress", "Paid", "Credit"]),
    ],
});
