import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("finnsys_portal_payments_tour", {
    steps: () => [
        {
            content: "Open the payments page from the portal home",
            trigger: "a[href='/my/payments']",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The card payment is listed, paid, with its receipt",
            trigger:
                ".o_billing_payments .o_billing_payment_row:has(.o_billing_status:contains(Paid)):has(a.o_billing_receipt_link)",
        },
        {
            content: "So is the payment booked by the billing team",
            trigger: ".o_billing_payments tbody:has(tr:nth-child(2)):not(:has(tr:nth-child(3)))",
        },
    ],
});
