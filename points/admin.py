"""The Django admin for datasets."""

from django.contrib import admin

from points.models import Dataset


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "title", "geometry", "count", "status", "created")
    list_filter = ("geometry", "status")
    search_fields = ("name", "title")
    readonly_fields = ("count", "min_x", "min_y", "max_x", "max_y", "status", "status_message", "created", "updated")
