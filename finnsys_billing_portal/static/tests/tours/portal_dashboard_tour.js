import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("finnsys_portal_dashboard_tour", {
    steps: () => [
        {
            content: "The outstanding invoices card counts the open invoices",
            trigger: ".o_billing_card_invoices .o_billing_open_count:contains(2)",
        },
        {
            content: "The help card shows the support e-mail",
            trigger: ".o_billing_card_help:contains(help@finnsys.example)",
        },
        {
            content: "Open the open invoices",
            trigger: ".o_billing_card_invoices a[href='/my/invoices?filterby=open']",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The Open tab is selected and lists both invoices",
            trigger: ".o_billing_invoice_tabs a.active[data-tab=open] .o_billing_tab_count:contains(2)",
        },
        {
            content: "Both open invoices are listed",
            trigger: ".o_billing_invoice_table tbody:has(tr:nth-child(2)):not(:has(tr:nth-child(3)))",
        },
    ],
});
