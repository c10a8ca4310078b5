from django.apps import AppConfig
from django.db.models.signals import post_migrate


class SyncConfig(AppConfig):
    name = "aharally.sync"

    def ready(self) -> None:
        from aharally.discussion.hooks import (
            register_edit_note,
            register_item_change_listener,
            register_item_listener,
            register_item_notes,
        )
        from aharally.integrations.hooks import (
            register_authorized_listener,
            register_lifecycle_listener,
            register_settings_action,
        )
        from aharally.integrations.report import register_sync_counter
        from aharally.records.bulk import register_bulk_action
        from aharally.records.hooks import (
            register_card_decorator,
            register_demo_seeder,
            register_record_listener,
            register_record_menu,
            register_requirement_decorator,
        )
        from aharally.sync import people, tasks
        from aharally.sync.outgoing import changes, discussion, discussion_changes
        from aharally.sync.web import (
            board,
            counts,
            discussion_notes,
            menus,
            views,
            views_people,
            views_reconcile,
        )

        register_record_listener(changes.on_records_saved)
        register_item_listener(discussion.on_item_added)
        register_item_change_listener(discussion_changes.on_item_changed)
        register_item_notes(discussion_notes.item_notes)
        register_edit_note(discussion_notes.edit_note)
        register_card_decorator(board.card_links)
        register_requirement_decorator(board.requirement_links)
        register_record_menu(menus.record_menu)
        register_demo_seeder(people.seed_demo_pairs)
        register_bulk_action(board.SEND_TO_RALLY)
        register_sync_counter(counts.sync_counts)
        register_authorized_listener(tasks.resume_after_authorization)
        register_settings_action(views.sync_now_action)
        register_settings_action(views_reconcile.import_action)
        register_settings_action(views_reconcile.compare_action)
        register_settings_action(views_people.people_action)
        register_lifecycle_listener("enabled", tasks.on_enabled)
        register_lifecycle_listener("disabled", tasks.on_disabled)
        register_lifecycle_listener("deleting", tasks.on_deleting)
        # A conflict policy the catch-up applied keeps aharally's value: the outbox sends it.
        from aharally.sync import listeners
        from aharally.sync.outgoing import outbox

        listeners.register_resend(outbox.resend_kept)
        # What the catch-up takes from one Rally goes on to the other Rallys a record is in.
        from aharally.sync.outgoing.changes import forward_imported, forward_taken

        listeners.register_forward(forward_taken)
        listeners.register_forward_import(forward_imported)
        # Schedules are declared in code and written after every migrate (idempotently).
        post_migrate.connect(tasks.ensure_schedules, sender=self)
