import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("finnsys_credit_override", {
    steps: () => [
        {
            content: "Confirm the draft invoice",
            trigger: ".o_form_view .o_statusbar_buttons button[name=action_post]",
            run: "click",
        },
        {
            content: "The credit limit refuses it and offers the override",
            trigger: ".modal button:contains(Post with override)",
            run: "click",
        },
        {
            content: "Give the reason",
            trigger: ".modal div[name=reason] textarea",
            run: "edit Paid by wire, not yet on the statement",
        },
        {
            content: "Post anyway",
            trigger: ".modal button[name=action_post]",
            run: "click",
        },
        {
            content: "The invoice form shows the invoice posted, without Confirm",
            trigger:
                ".o_form_view:not(:has(.modal)) .o_statusbar_status .o_arrow_button_current:contains(Posted)",
        },
        {
            content: "Confirm is gone and Reset to Draft is offered",
            trigger:
                ".o_form_view .o_statusbar_buttons:not(:has(button[name=action_post])):has(button[name=button_draft])",
        },
    ],
});
