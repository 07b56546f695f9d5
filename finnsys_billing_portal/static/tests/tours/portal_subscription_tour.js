import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("finnsys_portal_subscription_self_service_tour", {
    steps: () => [
        {
            content: "Pick the plan to move to",
            trigger: ".o_billing_change_plan label:contains(Platinum Monthly)",
            run: "click",
        },
        {
            content: "Preview the change",
            trigger: ".o_billing_plan_preview_button",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The preview shows the credit, the new plan's share and the difference",
            trigger: ".o_billing_plan_preview .o_billing_preview_net",
        },
        {
            content: "Confirm the plan change",
            trigger: ".o_billing_plan_confirm",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The new plan is confirmed",
            trigger: ".o_billing_subscription_done:contains(Platinum Monthly)",
        },
        {
            content: "Reason for cancelling",
            trigger: ".o_billing_cancel_form select[name=reason]",
            run: "selectByLabel Too expensive",
        },
        {
            content: "A comment",
            trigger: ".o_billing_cancel_form textarea[name=note]",
            run: "edit Budget cut",
        },
        {
            content: "Cancel at period end",
            trigger: ".o_billing_cancel_button",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The service end date is shown",
            trigger: ".o_billing_subscription_ends",
        },
        {
            content: "Change my mind: keep the subscription",
            trigger: ".o_billing_undo_cancel",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The subscription goes on",
            trigger: ".o_billing_subscription_done:contains(goes on)",
        },
    ],
});
