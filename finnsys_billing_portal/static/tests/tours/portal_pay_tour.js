import { registry } from "@web/core/registry";

function chooseAmount(amount) {
    return [
        {
            content: "Pay the open invoice",
            trigger: ".o_billing_invoice_table a.o_billing_pay",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "Edit the amount",
            trigger: "input#billing_pay_amount",
            run: `edit ${amount}`,
        },
        {
            content: "Accept the terms",
            trigger: "input#billing_pay_terms",
            run: "click",
        },
        {
            content: "Continue to the payment form",
            trigger: "button.o_billing_pay_continue",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The payment form shows the chosen amount",
            trigger: `.o_payment_form, span:contains(${amount})`,
        },
    ];
}

function submitAndLand() {
    return [
        {
            content: "Pay",
            trigger: 'button[name="o_payment_submit_button"]:not(:disabled)',
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "Back on the invoice once the payment is processed",
            trigger: ".o_portal_sidebar",
            timeout: 20000,
        },
    ];
}

registry.category("web_tour.tours").add("finnsys_portal_pay_saved_card_tour", {
    steps: () => [
        ...chooseAmount("40.00"),
        {
            content: "Choose the saved card",
            trigger: 'input[name="o_payment_radio"][data-payment-option-type="token"]',
            run: "click",
        },
        ...submitAndLand(),
    ],
});

registry.category("web_tour.tours").add("finnsys_portal_pay_new_card_tour", {
    steps: () => [
        ...chooseAmount("100.00"),
        {
            content: "Choose a new card",
            trigger: 'input[name="o_payment_radio"][data-payment-option-type="payment_method"]',
            run: "click",
        },
        {
            content: "Enter the card number",
            trigger: "input#customer_input",
            run: "edit 4111111111111111",
        },
        ...submitAndLand(),
    ],
});

function surchargeDialog(button) {
    return [
        ...chooseAmount("40.00"),
        {
            content: "Choose the saved card",
            trigger: 'input[name="o_payment_radio"][data-payment-option-type="token"]',
            run: "click",
        },
        {
            content: "Pay",
            trigger: 'button[name="o_payment_submit_button"]:not(:disabled)',
            run: "click",
        },
        {
            content: "The window shows amount, surcharge and total",
            trigger: ".modal:contains(1.30):contains(41.30)",
        },
        {
            content: `Answer ${button}`,
            trigger: `.modal button:contains(${button})`,
            run: "click",
            expectUnloadPage: button !== "Cancel",
        },
    ];
}

registry.category("web_tour.tours").add("finnsys_portal_surcharge_accept_tour", {
    steps: () => [
        ...surchargeDialog("Accept and Continue"),
        {
            content: "Back on the invoice once the payment is processed",
            trigger: ".o_portal_sidebar",
            timeout: 20000,
        },
    ],
});

registry.category("web_tour.tours").add("finnsys_portal_surcharge_decline_tour", {
    steps: () => [
        ...surchargeDialog("Cancel"),
        {
            content: "The page says the payment was not completed",
            trigger: ".o_billing_surcharge_declined:contains(not completed)",
        },
    ],
});

registry.category("web_tour.tours").add("finnsys_portal_topup_tour", {
    steps: () => [
        {
            content: "Top up from the account card",
            trigger: ".o_billing_card_account a.o_billing_topup",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "Enter the amount",
            trigger: "input#billing_topup_amount",
            run: "edit 150",
        },
        {
            content: "Accept the terms",
            trigger: "input#billing_topup_terms",
            run: "click",
        },
        {
            content: "Continue to the payment form",
            trigger: "button.o_billing_topup_continue",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "Choose the saved card",
            trigger: 'input[name="o_payment_radio"][data-payment-option-type="token"]',
            run: "click",
        },
        ...submitAndLand().slice(0, 1),
        {
            content: "Back on the dashboard",
            trigger: ".o_billing_dashboard",
            timeout: 20000,
        },
    ],
});
