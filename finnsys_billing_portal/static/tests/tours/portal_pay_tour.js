import { rpc } from "@web/core/network/rpc";
import { registry } from "@web/core/registry";

// Steps the tours share: one place for each selector of the payment form.
const SAVED_CARD = 'input[name="o_payment_radio"][data-payment-option-type="token"]';

function acceptTermsAndContinue(form) {
    // ``form`` is "pay" or "topup": both amount forms end with the terms and Continue.
    return [
        {
            content: "Accept the terms",
            trigger: `input#billing_${form}_terms`,
            run: "click",
        },
        {
            content: "Continue to the payment form",
            trigger: `button.o_billing_${form}_continue`,
            run: "click",
            expectUnloadPage: true,
        },
    ];
}

function chooseSavedCard() {
    return {
        content: "Choose the saved card",
        trigger: SAVED_CARD,
        run: "click",
    };
}

function enterNewCard() {
    return [
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
    ];
}

function clickPay(content = "Pay", leavesPage = false) {
    return {
        content,
        trigger: 'button[name="o_payment_submit_button"]:not(:disabled)',
        run: "click",
        expectUnloadPage: leavesPage,
    };
}

function paidAmount(amount) {
    return {
        content: "The payment page shows the amount paid",
        trigger: `.o_billing_payment_done .o_billing_payment_amount:contains(${amount})`,
        timeout: 20000,
    };
}

function chooseAmount(amount, payButton = ".o_billing_invoice_table a.o_billing_pay") {
    return [
        {
            content: "Pay the invoice",
            trigger: payButton,
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "Edit the amount",
            trigger: "input#billing_pay_amount",
            run: `edit ${amount}`,
        },
        ...acceptTermsAndContinue("pay"),
        {
            content: "The payment form shows the chosen amount",
            trigger: `.o_payment_form, span:contains(${amount})`,
        },
    ];
}

function landOnPayment(amount) {
    return [
        paidAmount(amount),
        {
            content: "and the payment reference",
            trigger: ".o_billing_payment_done .o_billing_payment_reference:not(:empty)",
        },
        {
            content: "and the new balance of the account",
            trigger: ".o_billing_payment_done .o_billing_payment_balance:not(:empty)",
        },
    ];
}

function submitAndLand(amount) {
    return [clickPay("Pay", true), ...landOnPayment(amount)];
}

registry.category("web_tour.tours").add("finnsys_portal_pay_saved_card_tour", {
    steps: () => [
        ...chooseAmount("40.00"),
        chooseSavedCard(),
        ...submitAndLand("40.00"),
        {
            content: "The invoice is partly paid",
            trigger: ".o_billing_payment_invoices .o_billing_status:contains(Partly paid)",
        },
    ],
});

registry.category("web_tour.tours").add("finnsys_portal_pay_new_card_tour", {
    steps: () => [
        ...chooseAmount("100.00"),
        ...enterNewCard(),
        ...submitAndLand("100.00"),
    ],
});

function surchargeDialog(button) {
    return [
        ...chooseAmount("40.00"),
        chooseSavedCard(),
        clickPay(),
        {
            content: "The window shows amount, surcharge with its rule and rate, and total",
            trigger: ".modal:contains(1.30):contains(41.30):contains(Cards):contains(2.5%)",
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
        ...landOnPayment("41.30"),
    ],
});

registry.category("web_tour.tours").add("finnsys_portal_surcharge_decline_tour", {
    steps: () => [
        ...surchargeDialog("Cancel"),
        {
            content: "The page says the payment was not completed",
            trigger: ".o_billing_surcharge_declined:contains(not completed)",
        },
        clickPay("Pay again"),
        {
            content: "Cancel the surcharge again",
            trigger: ".modal button:contains(Cancel)",
            run: "click",
        },
        {
            content: "Wait for the second refusal to be answered",
            trigger: 'button[name="o_payment_submit_button"]:not(:disabled)',
        },
        {
            content: "The page still shows one notice, not one per Cancel",
            trigger: ".o_billing_surcharge_declined:contains(not completed)",
            run() {
                const notices = document.querySelectorAll(".o_billing_surcharge_declined");
                if (notices.length !== 1) {
                    throw new Error(`${notices.length} surcharge notices shown, expected 1`);
                }
            },
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
        ...acceptTermsAndContinue("topup"),
        chooseSavedCard(),
        ...submitAndLand("150.00"),
    ],
});

function chooseTwoInvoices() {
    return [
        {
            content: "Select all the open invoices of the page",
            trigger: "input.o_billing_select_all",
            run: "click",
        },
        {
            content: "Leave out the invoice of 30.00",
            trigger: ".o_billing_invoice_table tr:contains(30.00) input.o_billing_select:checked",
            run: "click",
        },
        {
            content: "Pay the two selected invoices",
            trigger: "button.o_billing_pay_selected:not(:disabled)",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The pay page lists both invoices and their total",
            trigger: ".o_billing_pay_invoices .o_billing_pay_total:contains(150.00)",
        },
        ...acceptTermsAndContinue("pay"),
        chooseSavedCard(),
    ];
}

registry.category("web_tour.tours").add("finnsys_portal_multi_pay_tour", {
    steps: () => [
        ...chooseTwoInvoices(),
        ...submitAndLand("150.00"),
        {
            content: "The new balance is what the third invoice still owes",
            trigger: ".o_billing_payment_done .o_billing_payment_balance:contains(30.00)",
        },
        {
            content: "Both invoices are paid or in progress",
            trigger:
                ".o_billing_payment_invoices:not(:has(.o_billing_status:contains(Open)))" +
                ":not(:has(.o_billing_status:contains(Partly)))",
        },
    ],
});

registry.category("web_tour.tours").add("finnsys_portal_multi_pay_refused_tour", {
    steps: () => [
        ...chooseTwoInvoices(),
        {
            content: "Pay the same invoices from another tab",
            trigger: "#o_payment_form",
            async run() {
                const form = document.querySelector("#o_payment_form");
                const token = document.querySelector(SAVED_CARD);
                await rpc(form.dataset.transactionRoute, {
                    provider_id: parseInt(token.dataset.providerId),
                    payment_method_id: null,
                    token_id: parseInt(token.dataset.paymentOptionId),
                    amount: parseFloat(form.dataset.amount),
                    flow: "token",
                    tokenization_requested: false,
                    landing_route: "/my",
                    is_validation: false,
                    access_token: form.dataset.accessToken,
                    csrf_token: odoo.csrf_token,
                });
            },
        },
        clickPay("Pay in this tab too"),
        {
            content: "The refusal is shown with its reason",
            trigger: ".modal:contains(Payment processing failed):contains(already under way)",
        },
        {
            content: "Close the message",
            trigger: ".modal button:contains(Ok)",
            run: "click",
        },
        {
            content: "The customer can choose again",
            trigger: 'button[name="o_payment_submit_button"]:not(:disabled)',
        },
    ],
});

registry.category("web_tour.tours").add("finnsys_portal_pay_link_tour", {
    steps: () => [
        // The e-mailed link's invoice page leads to the same amount step.
        ...chooseAmount("40.00", "a.o_billing_pay"),
        {
            content: "No saved card is offered to a visitor",
            trigger: '.o_payment_form:not(:has(input[data-payment-option-type="token"]))',
        },
        ...enterNewCard(),
        clickPay("Pay", true),
        paidAmount("40.00"),
        {
            content: "but not the balance of the customer's account",
            trigger: ".o_billing_payment_done:not(:has(.o_billing_payment_balance))",
        },
    ],
});
