from django.apps import AppConfig


class DiscussionConfig(AppConfig):
    name = "aharally.discussion"

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from aharally.discussion import panel
        from aharally.discussion.services import forget_record
        from aharally.records.hooks import register_card_decorator, register_record_panel
        from aharally.records.models import Epic, Feature, Initiative, Release, Requirement

        register_card_decorator(panel.comment_counts)
        register_record_panel(panel.record_panel)
        for model in (Release, Initiative, Epic, Feature, Requirement):
            post_delete.connect(forget_record, sender=model, dispatch_uid=f"discussion-{model}")
