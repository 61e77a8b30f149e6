"""Upload, list, download and delete files."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from gallery.models import Upload


class UploadForm(forms.ModelForm):
    class Meta:
        model = Upload
        fields = ["file", "title"]


def index(request: HttpRequest) -> HttpResponse:
    """Show the upload form and every stored file with its size and URL."""
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        return redirect("index")
    uploads = []
    for upload in Upload.objects.all():
        try:
            size = upload.file.size
        except FileNotFoundError:
            size = None
        uploads.append({"upload": upload, "size": size, "url": upload.file.url})
    return render(request, "gallery/index.html", {"form": form, "uploads": uploads})


@require_POST
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete the file from the bucket and its row."""
    upload = get_object_or_404(Upload, pk=pk)
    upload.file.delete(save=False)
    upload.delete()
    return redirect("index")
